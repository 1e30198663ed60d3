// "Show the password" beside each password field: an enhancement (the forms work without JavaScript).
// A file, not an inline script: the Content-Security-Policy allows scripts from 'self' only.
(function () {
  var me = document.currentScript;
  var show = me.getAttribute("data-show"), hide = me.getAttribute("data-hide");
  document.querySelectorAll("input[type=password]").forEach(function (input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary show-password";
    button.textContent = show;
    button.setAttribute("aria-controls", input.id);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", function () {
      var visible = input.type === "password";
      input.type = visible ? "text" : "password";
      button.textContent = visible ? hide : show;
      button.setAttribute("aria-pressed", visible ? "true" : "false");
    });
    input.insertAdjacentElement("afterend", button);
  });
})();
