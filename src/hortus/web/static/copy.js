// Copy buttons for values shown once (the keys page). They stay hidden where the browser
// cannot copy (no JavaScript, or a page not served over HTTPS or from localhost): the value is
// selectable text either way.
(() => {
  if (!navigator.clipboard) return;
  const status = document.getElementById("copy-status");
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) continue;
    button.hidden = false;
    button.addEventListener("click", async () => {
      let said;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        said = (status && status.dataset.copied || "Copied {what}.")
          .replace("{what}", button.dataset.what);
      } catch (error) {
        said = status && status.dataset.failed || "Could not copy: select the text and copy it.";
      }
      if (status) status.textContent = said;
    });
  }
})();
