// Passkeys (WebAuthn): run the ceremony of every form marked data-passkey="create" or "get".
// The form is posted to its data-options-url first (CSRF token included); the answer names the ceremony
// and carries the options; the authenticator's answer goes into the form, which is then submitted.
// Without WebAuthn the passkey parts stay hidden and the page works without them.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) { return; }

  function toBytes(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var raw = atob(b64), out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) { raw += String.fromCharCode(bytes[i]); }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return Object.assign({}, d, { id: toBytes(d.id) }); });
  }

  function creationOptions(o) {
    return Object.assign({}, o, { challenge: toBytes(o.challenge), user: Object.assign({}, o.user, { id: toBytes(o.user.id) }),
      excludeCredentials: descriptors(o.excludeCredentials) });
  }

  function requestOptions(o) {
    return Object.assign({}, o, { challenge: toBytes(o.challenge), allowCredentials: descriptors(o.allowCredentials) });
  }

  function answer(credential) {
    if (typeof credential.toJSON === "function") { return credential.toJSON(); }
    var r = credential.response, response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) { response.transports = r.getTransports(); }
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      if (r.userHandle) { response.userHandle = toText(r.userHandle); }
    }
    return { id: credential.id, rawId: toText(credential.rawId), type: credential.type, response: response,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {} };
  }

  function run(form) {
    var mode = form.getAttribute("data-passkey");
    return fetch(form.getAttribute("data-options-url"), { method: "POST", body: new FormData(form),
      credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) { return resp.json().then(function (body) { return { ok: resp.ok, body: body }; }); })
      .then(function (result) {
        if (!result.ok) { throw new Error(result.body.error || "passkey"); }
        form.elements.ceremony.value = result.body.ceremony;
        var options = JSON.parse(result.body.options);
        return mode === "create" ? navigator.credentials.create({ publicKey: creationOptions(options) })
          : navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (credential) {
        form.elements.credential.value = JSON.stringify(answer(credential));
        form.submit();
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-passkey]");
    Array.prototype.forEach.call(forms, function (form) {
      var parts = [form].concat(Array.prototype.slice.call(form.querySelectorAll(".passkey-only")));
      parts.forEach(function (el) { if (el.classList.contains("passkey-only")) { el.hidden = false; } });
      Array.prototype.forEach.call(form.querySelectorAll(".passkey-unsupported"), function (el) { el.hidden = true; });
      function fail(err) {
        var note = form.querySelector(".passkey-status");
        if (!note) {
          note = document.createElement("p");
          note.className = "passkey-status field-error";
          note.setAttribute("role", "alert");
          form.appendChild(note);
        }
        // The server's own (translated) words when it refused; the browser's errors are not shown as such.
        note.textContent = err && err.name === "Error" && err.message !== "passkey" ? err.message
          : (form.getAttribute("data-failed") || "Passkey tidak diterima. / The passkey was not accepted.");
      }
      if (form.hasAttribute("data-passkey-optional")) {
        // The passkey stands in for a typed code: only its own buttons run the ceremony.
        Array.prototype.forEach.call(form.querySelectorAll(".passkey-submit"), function (button) {
          button.addEventListener("click", function () {
            if (button.getAttribute("formaction")) { form.action = button.getAttribute("formaction"); }
            run(form).catch(fail);
          });
        });
        return;
      }
      form.addEventListener("submit", function (event) {
        if (form.elements.credential.value) { return; }
        event.preventDefault();
        run(form).catch(fail);
      });
    });
  });
}());
