// Leoflow's /docs: give every <style> element the page's CSP nonce.
//
// The page's Content-Security-Policy allows inline <style> elements only with the nonce of
// the request (<meta property="csp-nonce">). Scalar reads it for its main stylesheet, but the
// libraries it bundles (the code viewer's styles, toasts, the theme) create theirs without
// it. This script runs before Scalar's bundle and is served from this origin like it, so
// only styles created by the page's own scripts get the nonce; markup injected into the page
// still does not.
(function () {
  "use strict";
  var meta = document.querySelector('meta[property="csp-nonce"]');
  var nonce = meta && meta.getAttribute("content");
  if (!nonce) {
    return;
  }
  var createElement = Document.prototype.createElement;
  Document.prototype.createElement = function (name, options) {
    var element = createElement.call(this, name, options);
    if (String(name).toLowerCase() === "style") {
      element.setAttribute("nonce", nonce);
    }
    return element;
  };
})();
