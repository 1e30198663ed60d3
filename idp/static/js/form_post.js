// OAuth 2.0 Form Post Response Mode: send the authorization response to the application at once.
// A file, not an inline script, because the Content-Security-Policy allows scripts from 'self' only.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form-post");
  if (form) { form.submit(); }
});
