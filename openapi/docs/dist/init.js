// The /docs page: Swagger UI on the served contract. Logging in through the
// try-it of /v1/auth/login (or /v1/auth/refresh) authorizes every later call.
(function () {
  "use strict";
  var ui = window.SwaggerUIBundle({
    url: "/openapi.yaml",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 1,
    defaultModelExpandDepth: 2,
    displayOperationId: true,
    displayRequestDuration: true,
    filter: true,
    persistAuthorization: true,
    showExtensions: true,
    tryItOutEnabled: false,
    validatorUrl: null,
    responseInterceptor: function (res) {
      if (res && res.status === 200 && /\/v1\/auth\/(login|refresh)$/.test(res.url || "")) {
        var body = res.body || {};
        if (body.access_token) {
          ui.preauthorizeApiKey("bearer", body.access_token);
        }
      }
      return res;
    }
  });
  window.fieldsyncDocs = ui;
})();
