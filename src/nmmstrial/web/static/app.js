// Progressive enhancement only: live totals and means on the visit form.
// The form works without it; the stored derived values are computed by the server.
(function () {
  "use strict";
  function update(output) {
    var names = output.dataset.components.split(" ");
    var side = output.dataset.side;
    var values = [];
    for (var i = 0; i < names.length; i++) {
      var id = "v." + names[i] + (side ? "." + side : "");
      var input = document.getElementById(id);
      if (!input || input.value.trim() === "") { return; }
      var text = input.value.trim().replace(",", ".");
      var value = Number(text.replace(/^(\d)([+-])$/, function (m, g, s) {
        return String(Number(g) + (s === "+" ? 1 / 3 : -1 / 3));
      }));
      if (!isFinite(value)) { return; }
      values.push(value);
    }
    var sum = values.reduce(function (a, b) { return a + b; }, 0);
    var result = output.dataset.derived === "mean" ? sum / values.length : sum;
    output.textContent = String(Math.round(result * 100) / 100);
  }
  function updateAll() {
    document.querySelectorAll("output[data-derived]").forEach(update);
  }
  document.addEventListener("input", updateAll);
  document.addEventListener("DOMContentLoaded", updateAll);
})();
