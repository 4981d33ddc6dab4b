// The API key of a server started with PROPSCAN_API_KEY, shared by the reading and corpus pages.
// It is typed once per tab and kept in sessionStorage, so the corpus page's "read it" links open
// the reading view already authorized; it goes out as UTF-8 bytes, which the server compares.
"use strict";

window.propscanKey = (() => {
  const STORE = "propscan-api-key";

  function remembered() {
    try {
      return sessionStorage.getItem(STORE) || "";
    } catch (error) {
      return ""; // storage refused (private mode): the key is typed on each page
    }
  }

  // Fill `input` with the key remembered in this tab, and call `changed` when a new one is entered.
  function wire(input, changed) {
    if (!input.value) input.value = remembered();
    input.addEventListener("change", () => {
      try {
        sessionStorage.setItem(STORE, input.value.trim());
      } catch (error) {
        // not remembered, still used on this page
      }
      changed();
    });
  }

  // fetch sends each header character up to U+00FF as one byte: spell the key's UTF-8 bytes so.
  function header(input) {
    const key = input.value.trim();
    return key ? String.fromCharCode(...new TextEncoder().encode(key)) : "";
  }

  return { wire, header };
})();
