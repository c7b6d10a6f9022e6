/* Case capture helpers. The pages work without this file (extra empty rows, "Fill from scan"
   buttons); with it, rows are added in place and a scanned barcode fills its row at once. */
(function () {
  "use strict";
  var script = document.currentScript;
  var lookupUrl = script && script.getAttribute("data-lookup-url");

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function field(row, suffix) {
    return row.querySelector("[name$='-" + suffix + "']");
  }

  function say(row, text, isError) {
    var out = row.querySelector(".scan-live");
    if (!out) {
      out = document.createElement("p");
      out.className = "scan-live";
      out.setAttribute("role", "status");
      row.querySelector(".scan-line").appendChild(out);
    }
    out.textContent = text;
    out.className = "scan-live " + (isError ? "errorlist" : "scan-note");
  }

  function lookup(input) {
    var code = input.value.trim();
    var row = input.closest("[data-row]");
    if (!code || !lookupUrl || !row) return;
    var body = new URLSearchParams({ code: code });
    fetch(lookupUrl, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(input.form), "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString(),
      credentials: "same-origin",
    })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.lot_number) field(row, "lot_number").value = data.lot_number;
        if (data.expires_on) field(row, "lot_expires_on").value = data.expires_on;
        if (data.product_id) field(row, "product").value = String(data.product_id);
        var viscosity = field(row, "viscosity");
        if (data.viscosity && viscosity && !viscosity.value) viscosity.value = data.viscosity;
        if (data.error) {
          say(row, data.error, true);
        } else {
          say(row, "Scanned: " + data.product + ", lot " + (data.lot_number || "—") + ", expiry " + (data.expires_on || "—") + ".", false);
          input.value = "";
          var next = field(row, "level");
          if (next) next.focus();
        }
      })
      .catch(function () { say(row, "The barcode could not be checked; use “Fill from scan”.", true); });
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key !== "Enter" || !target.form || target.tagName === "TEXTAREA" || target.type === "submit") return;
    // Scanners end with Enter: fill the row instead of submitting a half-entered case.
    event.preventDefault();
    if (target.hasAttribute("data-barcode")) lookup(target);
  });
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-barcode")) lookup(event.target);
    if (event.target.name && /-DELETE$/.test(event.target.name)) {
      event.target.closest("[data-row]").classList.toggle("removed", event.target.checked);
    }
    if (event.target.name === "patient_mode") showMode();
  });

  function renumber(container) {
    var n = 0;
    container.querySelectorAll("[data-row] .row-number").forEach(function (span) { span.textContent = String(++n); });
  }

  document.querySelectorAll("[data-add]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      var prefix = button.getAttribute("data-add");
      var template = document.getElementById(prefix + "-template");
      var total = document.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
      var container = document.querySelector("[data-formset='" + prefix + "']");
      if (!template || !total || !container) return;
      event.preventDefault();
      var index = parseInt(total.value, 10);
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      container.insertAdjacentHTML("beforeend", html);
      total.value = String(index + 1);
      renumber(container);
      var first = container.lastElementChild.querySelector("input:not([type=hidden]), select");
      if (first) first.focus();
    });
  });

  function showMode() {
    var checked = document.querySelector("input[name=patient_mode]:checked");
    if (!checked) return;
    document.querySelectorAll("[data-mode]").forEach(function (section) {
      section.hidden = section.getAttribute("data-mode") !== checked.value;
    });
  }
  showMode();
})();
