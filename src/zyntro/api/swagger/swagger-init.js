// Starts Swagger UI on /docs, for the OpenAPI document the page names. A file, not an inline
// script: the Content-Security-Policy allows scripts from the server's origin only. The
// settings are FastAPI's defaults, without the validator badge (an image from another origin).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
