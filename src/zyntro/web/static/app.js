// The dashboard's only script: tag inputs, copy buttons. Pages work without it, more plainly.
(function () {
  "use strict";

  function addTag(box, text) {
    var name = box.getAttribute("data-tags");
    var list = box.querySelector(".tag-list");
    text.split(/[,\n]/).forEach(function (part) {
      var value = part.trim();
      if (!value) return;
      var existing = Array.prototype.some.call(
        list.querySelectorAll("input[type=hidden]"),
        function (input) { return input.value === value; }
      );
      if (existing) return;
      var item = document.createElement("li");
      item.className = "tag";
      var label = document.createElement("span");
      label.textContent = value;
      var hidden = document.createElement("input");
      hidden.type = "hidden";
      hidden.name = name;
      hidden.value = value;
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "tag-remove";
      remove.setAttribute("aria-label", "Remove " + value);
      remove.textContent = "×";
      item.appendChild(label);
      item.appendChild(hidden);
      item.appendChild(remove);
      list.appendChild(item);
    });
  }

  function setUpTags(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "1";
    var input = box.querySelector("input[type=text]");
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === ",") {
        event.preventDefault();
        addTag(box, input.value);
        input.value = "";
      } else if (event.key === "Backspace" && input.value === "") {
        var tags = box.querySelectorAll(".tag");
        if (tags.length) tags[tags.length - 1].remove();
      }
    });
    input.addEventListener("paste", function (event) {
      var text = (event.clipboardData || window.clipboardData).getData("text");
      if (/[,\n]/.test(text)) {
        event.preventDefault();
        addTag(box, input.value + text);
        input.value = "";
      }
    });
    box.addEventListener("click", function (event) {
      var target = event.target;
      if (target.classList && target.classList.contains("tag-remove")) {
        target.closest(".tag").remove();
        input.focus();
      } else if (target === box || target.classList.contains("tag-list")) {
        input.focus();
      }
    });
  }

  function copyText(text, button) {
    function done() {
      var original = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () {
        button.textContent = original;
        button.classList.remove("copied");
      }, 1500);
    }
    function fallback() {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); } finally { area.remove(); }
      done();
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.copy");
    if (!button) return;
    var source = button.getAttribute("data-copy-from");
    var text = button.getAttribute("data-copy");
    if (source) {
      var element = document.getElementById(source);
      text = element.value !== undefined && element.tagName === "INPUT" ? element.value : element.textContent;
    }
    if (text) copyText(text, button);
  });

  // A list's filter applies as soon as it is chosen (the Search button does the same).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) {
      if (select.form.requestSubmit) select.form.requestSubmit(); else select.form.submit();
    }
  });

  function setUp(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-tags]").forEach(setUpTags);
  }

  if (window.htmx) {
    window.htmx.onLoad(setUp);
  } else {
    document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  }
})();
