// OpenID Connect Front-Channel Logout 1.0: the signed-out page loads one hidden iframe per application
// (templates/oauth/_frontchannel.html).  When the page continues to the application's
// post_logout_redirect_uri, go there once every iframe fired "load", or after a short timeout, so that
// an application that does not answer cannot keep the person waiting.  Without JavaScript, the
// "Continue" link does the same.  A file, not an inline script: the CSP allows scripts from 'self' only.
// Loaded before the iframes, so a capturing listener sees every load event (they do not bubble).
(function () {
  "use strict";
  var loaded = [];
  var gone = false;

  function frames() {
    return document.querySelectorAll("iframe.frontchannel-logout");
  }

  function go() {
    if (gone) { return; }
    var link = document.getElementById("frontchannel-continue");
    if (!link) { return; }
    gone = true;
    window.location.assign(link.href);
  }

  function check() {
    var all = frames();
    for (var i = 0; i < all.length; i++) {
      if (loaded.indexOf(all[i]) < 0) { return; }
    }
    go();
  }

  document.addEventListener("load", function (event) {
    var target = event.target;
    if (target && target.tagName === "IFRAME" && target.classList.contains("frontchannel-logout")) {
      if (loaded.indexOf(target) < 0) { loaded.push(target); }
      if (document.readyState !== "loading") { check(); }
    }
  }, true);

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("frontchannel-logout");
    var wait = box ? parseInt(box.getAttribute("data-continue-after"), 10) : 0;
    window.setTimeout(go, wait > 0 ? Math.min(wait, 10000) : 3000);
    check();
  });
}());
