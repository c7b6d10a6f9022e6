// Starts Redoc from a file, not an inline script (CSP). Redoc's styled-components add <style>
// elements at run time: they carry the page's style nonce, the only inline style the page allows.
(function () {
  "use strict";
  var container = document.getElementById("redoc-container");
  Redoc.init(container.dataset.schemaUrl, { nonce: container.dataset.styleNonce }, container);
})();
