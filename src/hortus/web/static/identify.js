// The identification form, enhanced: photos from the file picker and the camera gather in one
// list of at most five, each with a preview, what it shows, and a button to remove it. The
// form works without this script (five "Photo N shows" lists, both file inputs sent as they are).
(() => {
  "use strict";
  const form = document.getElementById("identify-form");
  if (!form || typeof DataTransfer === "undefined") return;
  try {
    new DataTransfer().items.add(new File([""], "probe.jpg"));
  } catch (e) {
    return; // a browser that cannot set a file input's files keeps the plain form
  }
  const picker = document.getElementById("images");
  const camera = document.getElementById("camera");
  const list = document.getElementById("chosen");
  const status = document.getElementById("chosen-status");
  const rows = document.getElementById("organ-rows");
  const options = document.getElementById("organ-options");
  const submit = document.getElementById("identify-submit");
  const max = Number(form.dataset.maxPhotos) || 5;
  const maxBytes = Number(form.dataset.maxBytes) || 0;
  const chosen = []; // {file, organ, url}
  // The page's sentences in the visitor's language (identify.html), English when missing.
  const words = JSON.parse((document.getElementById("identify-messages") || {}).textContent || "{}");
  const idle = submit.textContent;
  const text = (key, english, values = {}) =>
    (words[key] || english).replace(/\{(\w+)\}/g, (all, name) => (name in values ? values[name] : all));

  rows.remove(); // each chosen photo gets its own "Photo N shows" list instead

  const identity = (file) => [file.name, file.size, file.lastModified].join("/");
  const megabytes = (bytes) => (bytes / 1048576).toFixed(1) + " MB";
  const totalBytes = () => chosen.reduce((sum, c) => sum + c.file.size, 0);

  function sync() {
    const transfer = new DataTransfer();
    chosen.forEach((c) => transfer.items.add(c.file));
    picker.files = transfer.files;
    camera.value = "";
  }

  function say(extra) {
    const count = chosen.length;
    const values = { count, max, size: megabytes(totalBytes()) };
    let line = count === 0 ? "" : count === 1
      ? text("chosen_one", "{count} photo chosen (up to {max}), {size}.", values)
      : text("chosen_many", "{count} photos chosen (up to {max}), {size}.", values);
    if (extra) line = (line + " " + extra).trim();
    status.textContent = line;
  }

  function placeholder(file) {
    const box = document.createElement("div");
    box.className = "preview";
    box.textContent = /\.hei[cf]$/i.test(file.name) || /hei[cf]/i.test(file.type)
      ? text("heic", "HEIC photo: no preview here, it is sent as it is")
      : text("no_preview", "No preview");
    return box;
  }

  function remove(index) {
    const [gone] = chosen.splice(index, 1);
    if (gone && gone.url) URL.revokeObjectURL(gone.url);
    sync();
    render();
    say(text("removed", "Photo removed."));
    const buttons = list.querySelectorAll("button");
    (buttons[Math.min(index, buttons.length - 1)] || picker).focus();
  }

  function render() {
    list.replaceChildren();
    chosen.forEach((c, i) => {
      const item = document.createElement("li");
      if (c.url) {
        const img = document.createElement("img");
        img.className = "preview";
        img.alt = text("preview", "Photo {number}: {name}", { number: i + 1, name: c.file.name });
        img.src = c.url;
        img.addEventListener("error", () => img.replaceWith(placeholder(c.file)));
        item.append(img);
      } else {
        item.append(placeholder(c.file));
      }
      const name = document.createElement("p");
      name.className = "name";
      name.textContent = c.file.name || text("camera", "Photo from the camera");
      const label = document.createElement("label");
      label.htmlFor = `chosen-organ-${i}`;
      label.textContent = text("shows", "Photo {number} shows", { number: i + 1 });
      const select = document.createElement("select");
      select.id = `chosen-organ-${i}`;
      select.name = "organs";
      select.setAttribute("aria-describedby", "auto-help");
      select.append(options.content.cloneNode(true));
      select.value = c.organ;
      select.addEventListener("change", () => { c.organ = select.value; });
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = text("remove", "Remove photo {number}", { number: i + 1 });
      button.addEventListener("click", () => remove(i));
      item.append(name, label, select, button);
      list.append(item);
    });
    list.hidden = chosen.length === 0;
  }

  function add(files) {
    let left = 0;
    for (const file of files) {
      if (chosen.some((c) => identity(c.file) === identity(file))) continue;
      if (chosen.length >= max) { left += 1; continue; }
      let url = null;
      try { url = URL.createObjectURL(file); } catch (e) { url = null; }
      chosen.push({ file, organ: "auto", url });
    }
    sync();
    render();
    say(left ? text("left_out", "Only {max} photos can be sent at once: {left} left out.",
                    { max, left }) : "");
  }

  picker.addEventListener("change", () => add(Array.from(picker.files || [])));
  camera.addEventListener("change", () => add(Array.from(camera.files || [])));

  form.addEventListener("submit", (event) => {
    if (chosen.length === 0) {
      event.preventDefault();
      say(text("none", "Choose at least one photo, or take one with your camera."));
      picker.focus();
      return;
    }
    if (maxBytes && totalBytes() > maxBytes) {
      event.preventDefault();
      say(text("too_heavy", "These photos weigh more than the {size} this server takes at " +
               "once: remove one, or send smaller ones.", { size: megabytes(maxBytes) }));
      return;
    }
    submit.disabled = true;
    submit.textContent = submit.dataset.busy || "Identifying…";
  });
  window.addEventListener("pageshow", () => {
    submit.disabled = false;
    submit.textContent = idle;
  });
})();
