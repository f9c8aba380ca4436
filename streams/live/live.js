// The live page's refresh: fetch the JSON API, swap <main> for the fragment it carries (rendered by
// the server with the report's own functions), never reload the page. Quiet while the tab is hidden.
(function () {
  "use strict";
  var main = document.getElementById("live");
  var state = document.getElementById("connection");
  var every = Math.max(1, Number(main.getAttribute("data-refresh")) || 3) * 1000;
  var refreshes = 0;
  var lastOk = new Date();

  function show(text, ok) {
    state.textContent = text;
    state.className = ok ? "ok" : "lost";
  }

  function refresh() {
    if (document.hidden) {
      setTimeout(refresh, every);
      return;
    }
    fetch("api/v1/live?html=true", {cache: "no-store", credentials: "same-origin",
                                    headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign("./");  // the sign-in form
          throw new Error("signed out");
        }
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (live) {
        main.innerHTML = live.html;
        refreshes += 1;
        document.body.setAttribute("data-refreshes", String(refreshes));
        lastOk = new Date();
        show("live · refreshed every " + every / 1000 + " s · updated " + lastOk.toLocaleTimeString(), true);
      })
      .catch(function (error) {
        show("not updated since " + lastOk.toLocaleTimeString() + " (" + error.message + "): retrying", false);
      })
      .then(function () {
        setTimeout(refresh, every);
      });
  }

  setTimeout(refresh, every);
})();
