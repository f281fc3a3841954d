// Leoflow Lite's web editor: a file tree of the workspace and Monaco, over /ide/api/files.
// Saving writes the file; Leoflow's workspace sync notices and registers the DAG, so the
// editor has nothing else to do for a reload.
"use strict";

(() => {
  const config = document.getElementById("config").dataset;
  const API = "ide/api/files";
  const WRITE = { "X-Leoflow-IDE": "1" };
  const LANGUAGES = {
    py: "python", yaml: "yaml", yml: "yaml", json: "json", md: "markdown", sql: "sql",
    sh: "shell", bash: "shell", toml: "ini", cfg: "ini", ini: "ini", txt: "plaintext",
    js: "javascript", ts: "typescript", html: "html", css: "css", xml: "xml", r: "r",
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    entries: [],
    selected: null, // {path, kind}
    open: null, // path of the file in the editor
    files: new Map(), // path -> {model, etag, saved}
    collapsed: new Set(),
    monaco: null,
    editor: null,
  };

  const encodePath = (path) => path.split("/").map(encodeURIComponent).join("/");
  const parentOf = (path) => (path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "");
  const nameOf = (path) => path.slice(path.lastIndexOf("/") + 1);
  const under = (path, folder) => path === folder || path.startsWith(`${folder}/`);

  function languageFor(path) {
    const name = nameOf(path).toLowerCase();
    if (name === "dockerfile") return "dockerfile";
    const dot = name.lastIndexOf(".");
    return LANGUAGES[dot >= 0 ? name.slice(dot + 1) : ""] || "plaintext";
  }

  function status(text, kind = "info", actions = []) {
    const bar = $("status");
    bar.className = kind;
    bar.replaceChildren(document.createTextNode(text));
    for (const { label, run, href } of actions) {
      const element = document.createElement(href ? "a" : "button");
      element.textContent = label;
      if (href) element.href = href;
      else element.addEventListener("click", run);
      bar.append(element);
    }
  }

  async function call(method, path, { body, headers = {} } = {}) {
    const url = path ? `${API}/${encodePath(path)}` : API;
    const response = await fetch(url, { method, body, headers, credentials: "same-origin" });
    if (response.status === 401) {
      const next = `${location.pathname}${location.search}`;
      location.href = `api/v2/auth/login?next=${encodeURIComponent(next)}`;
      throw new Error("login needed");
    }
    if (!response.ok) {
      let detail = response.statusText;
      try {
        const payload = await response.json();
        detail = typeof payload.detail === "string" ? payload.detail : JSON.stringify(payload.detail);
      } catch (_) {
        // not JSON: keep the status text
      }
      const error = new Error(detail);
      error.status = response.status;
      throw error;
    }
    return response;
  }

  // --- the question dialog -----------------------------------------------------------------

  function ask(text, { value = null, ok = "OK", danger = false } = {}) {
    const dialog = $("ask");
    const input = $("ask-input");
    const button = $("ask-ok");
    $("ask-text").textContent = text;
    input.hidden = value === null;
    input.value = value ?? "";
    button.textContent = ok;
    button.className = danger ? "danger" : "primary";
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => resolve(dialog.returnValue === "ok" ? (value === null ? true : input.value.trim()) : null),
        { once: true },
      );
      dialog.returnValue = "";
      dialog.showModal();
      if (value !== null) {
        input.focus();
        input.setSelectionRange(input.value.length, input.value.length);
      }
    });
  }

  // --- the tree ----------------------------------------------------------------------------

  function buildTree(entries) {
    const root = { path: "", kind: "folder", children: [] };
    const folders = new Map([["", root]]);
    for (const entry of entries) {
      const node = { ...entry, children: entry.kind === "folder" ? [] : null };
      if (entry.kind === "folder") folders.set(entry.path, node);
      const parent = folders.get(parentOf(entry.path)) || root;
      parent.children.push(node);
    }
    const order = (a, b) =>
      a.kind === b.kind ? nameOf(a.path).localeCompare(nameOf(b.path)) : a.kind === "folder" ? -1 : 1;
    for (const folder of folders.values()) folder.children.sort(order);
    return root;
  }

  function isDirty(file) {
    return file.model.getAlternativeVersionId() !== file.saved;
  }

  function renderTree() {
    const list = document.createElement("ul");
    const render = (node, depth, into) => {
      for (const child of node.children) {
        const item = document.createElement("li");
        item.setAttribute("role", "treeitem");
        const row = document.createElement("div");
        row.className = `row ${child.kind}`;
        row.dataset.path = child.path;
        row.dataset.kind = child.kind;
        row.style.paddingLeft = `${8 + depth * 14}px`;
        if (state.selected && state.selected.path === child.path) {
          row.classList.add("selected");
          item.setAttribute("aria-selected", "true");
        }
        const twisty = document.createElement("span");
        twisty.className = "twisty";
        const open = child.kind === "folder" && !state.collapsed.has(child.path);
        twisty.textContent = child.kind === "folder" ? (open ? "\u25BE" : "\u25B8") : "";
        const name = document.createElement("span");
        name.className = "name";
        name.textContent = nameOf(child.path);
        row.append(twisty, name);
        const file = state.files.get(child.path);
        if (file && isDirty(file)) {
          const mark = document.createElement("span");
          mark.className = "mark";
          mark.textContent = "\u25CF";
          row.append(mark);
        }
        item.append(row);
        if (child.kind === "folder") {
          item.setAttribute("aria-expanded", String(open));
          if (open) {
            const group = document.createElement("ul");
            group.setAttribute("role", "group");
            render(child, depth + 1, group);
            item.append(group);
          }
        }
        into.append(item);
      }
    };
    render(buildTree(state.entries), 0, list);
    $("tree").replaceChildren(list);
  }

  async function loadTree() {
    const response = await call("GET", "");
    const tree = await response.json();
    state.entries = tree.entries;
    $("workspace").textContent = tree.root + (tree.truncated ? " (only the first files are listed)" : "");
    $("workspace").title = tree.root;
    renderTree();
  }

  function select(path, kind) {
    state.selected = path === null ? null : { path, kind };
    $("rename").disabled = state.selected === null;
    $("delete").disabled = state.selected === null;
    renderTree();
  }

  $("tree").addEventListener("click", (event) => {
    const row = event.target.closest(".row");
    if (!row) return;
    const { path, kind } = row.dataset;
    if (kind === "folder") {
      if (state.selected && state.selected.path === path) {
        if (state.collapsed.has(path)) state.collapsed.delete(path);
        else state.collapsed.add(path);
      }
      select(path, kind);
    } else {
      select(path, kind);
      openFile(path).catch((error) => status(`Could not open ${path}: ${error.message}`, "error"));
    }
  });

  // --- editing -----------------------------------------------------------------------------

  function refreshDirty() {
    const file = state.open && state.files.get(state.open);
    const dirty = Boolean(file && isDirty(file));
    $("dirty").hidden = !dirty;
    $("save").disabled = !file;
    renderTree();
  }

  function newModel(path, text) {
    const { monaco } = state;
    const model = monaco.editor.createModel(text, languageFor(path), monaco.Uri.file(`/${path}`));
    model.onDidChangeContent(() => {
      if (path === state.open) refreshDirty();
    });
    return model;
  }

  async function openFile(path) {
    if (!state.editor) throw new Error("the code editor is not loaded");
    let file = state.files.get(path);
    if (!file) {
      const response = await call("GET", path);
      const text = await response.text();
      const model = newModel(path, text);
      file = { model, etag: response.headers.get("ETag"), saved: model.getAlternativeVersionId() };
      state.files.set(path, file);
    }
    state.open = path;
    $("placeholder").hidden = true;
    $("editor").hidden = false;
    state.editor.setModel(file.model);
    state.editor.layout();
    state.editor.focus();
    $("current").textContent = path;
    refreshDirty();
  }

  function closeFile(path) {
    const file = state.files.get(path);
    if (!file) return;
    if (state.open === path) {
      state.editor.setModel(null);
      state.open = null;
      $("editor").hidden = true;
      $("placeholder").hidden = false;
      $("current").textContent = "No file open";
    }
    file.model.dispose();
    state.files.delete(path);
  }

  async function save({ force = false } = {}) {
    const path = state.open;
    const file = path && state.files.get(path);
    if (!file) return;
    const headers = { ...WRITE, "Content-Type": "text/plain; charset=utf-8" };
    if (file.etag && !force) headers["If-Match"] = file.etag;
    const version = file.model.getAlternativeVersionId();
    try {
      const response = await call("PUT", path, { body: file.model.getValue(), headers });
      const saved = await response.json();
      file.etag = saved.etag;
      file.saved = version;
      refreshDirty();
      status(`Saved ${saved.path}. Leoflow compiles and registers the workspace within a second.`, "ok", [
        { label: "Open the DAG list", href: "dags" },
      ]);
    } catch (error) {
      if (error.status === 412) {
        status(`${path} changed on disk since you opened it.`, "error", [
          { label: "Overwrite it", run: () => save({ force: true }) },
          { label: "Discard my changes", run: () => reload(path) },
        ]);
      } else {
        status(`Could not save ${path}: ${error.message}`, "error");
      }
    }
  }

  async function reload(path) {
    closeFile(path);
    await openFile(path);
    status(`Reloaded ${path} from disk.`);
  }

  // --- creating, renaming, deleting --------------------------------------------------------

  function baseFolder() {
    if (!state.selected) return "";
    return state.selected.kind === "folder" ? state.selected.path : parentOf(state.selected.path);
  }

  async function create(kind) {
    const base = baseFolder();
    const label = kind === "file" ? "New file" : "New folder";
    const path = await ask(`${label}: a path relative to the workspace.`, {
      value: base ? `${base}/` : "",
      ok: "Create",
    });
    if (!path) return;
    try {
      const response = await call("POST", path, {
        body: JSON.stringify({ kind }),
        headers: { ...WRITE, "Content-Type": "application/json" },
      });
      const created = await response.json();
      state.collapsed.delete(parentOf(created.path));
      await loadTree();
      select(created.path, kind);
      if (kind === "file") await openFile(created.path);
      status(`Created ${created.path}.`, "ok");
    } catch (error) {
      status(`Could not create ${path}: ${error.message}`, "error");
    }
  }

  async function rename() {
    if (!state.selected) return;
    const { path, kind } = state.selected;
    const target = await ask(`Rename or move ${path} to:`, { value: path, ok: "Rename" });
    if (!target || target === path) return;
    try {
      const response = await call("PATCH", path, {
        body: JSON.stringify({ to: target }),
        headers: { ...WRITE, "Content-Type": "application/json" },
      });
      const moved = (await response.json()).path;
      for (const [old, file] of [...state.files]) {
        if (!under(old, path)) continue;
        const wasOpen = state.open === old;
        const dirty = isDirty(file);
        const renamed = moved + old.slice(path.length);
        const model = newModel(renamed, file.model.getValue());
        if (wasOpen) state.editor.setModel(model);
        file.model.dispose();
        state.files.delete(old);
        state.files.set(renamed, { model, etag: file.etag, saved: dirty ? -1 : model.getAlternativeVersionId() });
        if (wasOpen) {
          state.open = renamed;
          $("current").textContent = renamed;
        }
      }
      await loadTree();
      select(moved, kind);
      refreshDirty();
      status(`Renamed ${path} to ${moved}.`, "ok");
    } catch (error) {
      status(`Could not rename ${path}: ${error.message}`, "error");
    }
  }

  async function remove() {
    if (!state.selected) return;
    const { path, kind } = state.selected;
    const what = kind === "folder" ? `the folder ${path} and everything in it` : path;
    const sure = await ask(`Delete ${what}? This cannot be undone.`, { ok: "Delete", danger: true });
    if (!sure) return;
    try {
      await call("DELETE", path, { headers: WRITE });
      for (const open of [...state.files.keys()]) if (under(open, path)) closeFile(open);
      select(null);
      await loadTree();
      refreshDirty();
      status(`Deleted ${path}.`, "ok");
    } catch (error) {
      status(`Could not delete ${path}: ${error.message}`, "error");
    }
  }

  $("new-file").addEventListener("click", () => create("file"));
  $("new-folder").addEventListener("click", () => create("folder"));
  $("rename").addEventListener("click", rename);
  $("delete").addEventListener("click", remove);
  $("save").addEventListener("click", () => save());
  window.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
    }
  });
  window.addEventListener("beforeunload", (event) => {
    if ([...state.files.values()].some(isDirty)) event.preventDefault();
  });
  window.addEventListener("focus", () => loadTree().catch(() => {}));

  // --- start -------------------------------------------------------------------------------

  function loadMonaco() {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = `${config.monaco}/loader.js`;
      script.onload = () => {
        const vs = new URL(config.monaco, document.baseURI).href;
        window.require.config({ paths: { vs } });
        window.require(["vs/editor/editor.main"], () => resolve(window.monaco), reject);
      };
      script.onerror = () => reject(new Error("the code editor's files could not be loaded"));
      document.head.append(script);
    });
  }

  async function start() {
    await loadTree();
    if (config.missing) {
      status(`The code editor is not installed: ${config.missing}`, "error");
      return;
    }
    const monaco = await loadMonaco();
    state.monaco = monaco;
    state.editor = monaco.editor.create($("editor"), {
      model: null,
      automaticLayout: true,
      minimap: { enabled: false },
      fontSize: 13,
      tabSize: 4,
      insertSpaces: true,
      renderWhitespace: "selection",
      scrollBeyondLastLine: false,
      theme: "vs",
    });
    state.editor.addCommand(monaco.KeyMod.CtrlCmd | monaco.KeyCode.KeyS, () => save());
    document.body.dataset.ready = "true";
    status("Ready. Open a file from the tree.");
  }

  start().catch((error) => status(`The editor could not start: ${error.message}`, "error"));
})();
