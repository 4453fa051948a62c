// テンプレート editor (templates/web/templates_edit.html): live preview while typing.
// The page works without this script (the プレビュー button posts the form); with it, the
// draft is posted (CSRF token included) to …/preview shortly after each change, and the
// preview, the subject and the errors are replaced in place. An HTML template's rendering
// goes to the sandboxed preview frame by submitting the form to it (…/frame).
// Only textContent is ever set: the rendered text is shown, never interpreted.
(function () {
  "use strict";
  var form = document.getElementById("template-form");
  if (!form) { return; }
  var area = form.elements.body;
  var url = form.getAttribute("data-preview");
  var isHtml = form.getAttribute("data-html") === "1";
  var text = document.getElementById("preview-text");
  var status = document.getElementById("preview-status");
  var list = document.getElementById("preview-problems");
  var subject = document.getElementById("preview-subject");
  var subjectLine = document.getElementById("preview-subject-line");
  var frameButton = document.getElementById("preview-button");
  var cursorLine = document.getElementById("cursor-line");
  var timer = null;
  var sent = 0;

  function setStatus(ok, message) {
    status.textContent = message;
    status.className = ok ? "ok" : "ng";
  }

  function showProblems(problems) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    problems.forEach(function (p) {
      var li = document.createElement("li");
      // In Japanese, the names it is about as code (the template's own words: translate="no").
      (p.parts || [[p.text, false]]).forEach(function (part) {
        if (part[1]) {
          var code = document.createElement("code");
          code.setAttribute("translate", "no");
          code.textContent = part[0];
          li.appendChild(code);
        } else {
          li.appendChild(document.createTextNode(part[0]));
        }
      });
      li.title = p.message;
      if (p.in_draft && p.line) { li.setAttribute("data-line", String(p.line)); }
      list.appendChild(li);
    });
  }

  function show(result) {
    showProblems(result.problems);
    if (!result.ok) {
      setStatus(false, "エラーがあります（保存できません）");
      return;  // the last good rendering stays visible under the errors
    }
    setStatus(true, "エラーはありません");
    subject.textContent = result.subject;
    subjectLine.hidden = !result.subject;
    if (isHtml) {
      form.requestSubmit(frameButton);  // formaction …/frame, formtarget preview-frame
    } else {
      text.textContent = result.text;
      text.hidden = false;
    }
  }

  function preview() {
    var mine = ++sent;
    var body = new URLSearchParams();
    body.set("csrf_token", form.elements.csrf_token.value);
    body.set("body", area.value);
    setStatus(true, "プレビューを更新しています…");
    fetch(url, { method: "POST", body: body, credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw { status: response.status }; }
        return response.json();
      })
      .then(function (result) { if (mine === sent) { show(result); } })
      .catch(function (err) {
        if (mine === sent) { setStatus(false, "プレビューできませんでした（" + (err && err.status ? "応答 " + err.status : "サーバーに接続できません") + "）"); }
      });
  }

  function lineOfCursor() {
    return area.value.slice(0, area.selectionStart).split("\n").length;
  }

  function updateCursor() {
    cursorLine.textContent = lineOfCursor() + " 行目";
  }

  // Clicking an error in the edited text selects its line.
  list.addEventListener("click", function (event) {
    var item = event.target.closest("li[data-line]");
    if (!item) { return; }
    var line = parseInt(item.getAttribute("data-line"), 10);
    var lines = area.value.split("\n");
    var start = lines.slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
    var end = start + (lines[line - 1] || "").length;
    area.focus();
    area.setSelectionRange(start, end);
    var lineHeight = area.scrollHeight / Math.max(lines.length, 1);
    area.scrollTop = Math.max(0, (line - 5) * lineHeight);
    updateCursor();
  });

  area.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(preview, 350);
  });
  ["keyup", "click", "focus"].forEach(function (name) { area.addEventListener(name, updateCursor); });
  form.classList.add("live");
})();
