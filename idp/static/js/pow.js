// The proof of work of idp/pow.py (ALTCHA v1): find n with SHA-256(salt + n) == challenge, then post
// base64(JSON {algorithm, challenge, number, salt, signature}) in the hidden "altcha" field.
// A file, not an inline script: the Content-Security-Policy allows scripts from 'self' only.
(function () {
  var field = document.getElementById("altcha");
  if (!field || !window.crypto || !window.crypto.subtle) { return; }
  var c = JSON.parse(field.getAttribute("data-challenge"));
  var status = document.getElementById("altcha-status");
  var buttons = field.form ? field.form.querySelectorAll("button[type=submit]") : [];
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function done(n) {
    field.value = btoa(JSON.stringify({algorithm: c.algorithm, challenge: c.challenge, number: n, salt: c.salt, signature: c.signature}));
    if (status) { status.textContent = status.getAttribute("data-done"); }
    buttons.forEach(function (b) { b.disabled = false; });
  }
  buttons.forEach(function (b) { b.disabled = true; });
  var encoder = new TextEncoder();
  var n = 0;
  function batch() {
    var tries = [];
    for (var i = 0; i < 500 && n <= c.maxnumber; i++, n++) {
      tries.push((function (k) {
        return crypto.subtle.digest("SHA-256", encoder.encode(c.salt + k)).then(function (d) { return hex(d) === c.challenge ? k : -1; });
      })(n));
    }
    Promise.all(tries).then(function (found) {
      var hit = found.filter(function (k) { return k >= 0; });
      if (hit.length) { done(hit[0]); } else if (n <= c.maxnumber) { setTimeout(batch, 0); }
    });
  }
  batch();
})();
