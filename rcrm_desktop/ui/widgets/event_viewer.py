"""One crash event, read the way a developer reads it: stack trace, breadcrumbs, contexts, tags, raw JSON.

What it guarantees:

* **Stack trace.** Exceptions newest first (the one that surfaced on top),
  frames most recent call first. In-app frames are highlighted (tinted row,
  bold function, an "app" marker) and expanded to their source context — the
  lines before, the crashing line marked, the lines after — and their
  variables. Runs of library frames are collapsed into one expandable row
  ("3 library frames"), so the application's own code stands out.
* **Breadcrumbs** as a timeline: time relative to the crash, category with an
  icon, level (errors in colour and text), message or data; the crash itself
  closes the timeline.
* **Contexts and tags** (os, device, app, runtime, browser, …), request and
  extra data, as a tree.
* **The linked subject** only for an operator whose role has
  ``subjects.view``, and only on request: the button calls
  ``core.crashes.event_subject``, which audits the look
  (``crash.subject_view``). Other roles see that a link exists, not to whom.
* Everything shown is the stored, scrubbed payload; nothing is fetched.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from rcrm_desktop.core import crashes
from rcrm_desktop.core.crashes import EventDetail, LinkedSubject
from rcrm_desktop.core.permissions import Actor, Permission
from rcrm_desktop.errors import RcrmError
from rcrm_desktop.ui import colors, fmt, icons, style

#: Breadcrumb category → MDI icon.
CATEGORY_ICONS = {
    "auth": "account-key-outline", "navigation": "compass-outline", "http": "swap-horizontal",
    "fetch": "swap-horizontal", "xhr": "swap-horizontal", "ui.click": "cursor-default-click-outline",
    "ui.input": "form-textbox", "query": "database-search-outline", "console": "console-line",
    "error": "alert-circle-outline", "exception": "bug-outline", "default": "circle-small",
}

LEVEL_COLORS = {"fatal": colors.OVERDUE, "error": colors.OVERDUE, "warning": colors.DUE_SOON}


def _mono() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def _tint(color: QColor, alpha: int) -> QBrush:
    c = QColor(color)
    c.setAlpha(alpha)
    return QBrush(c)


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _parse_time(value: Any) -> dt.datetime | None:
    try:
        if isinstance(value, int | float):
            return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
    except (ValueError, OverflowError, OSError):
        return None
    return None


class EventViewer(QWidget):
    """Shows one ``EventDetail``; ``subject_shown`` fires after an audited look at the linked subject."""

    subject_shown = Signal(object)

    def __init__(self, actor: Actor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.actor = actor
        self.detail: EventDetail | None = None
        self.linked_subject: LinkedSubject | None = None
        self.setObjectName("eventViewer")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(6)

        self.header = QLabel(self)
        self.header.setObjectName("eventHeader")
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setWordWrap(True)
        self.header.setFont(style.scaled_font(self.header.font(), 1.05, QFont.Weight.DemiBold))
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.header)
        self.meta = QLabel(self)
        self.meta.setObjectName("muted")
        self.meta.setWordWrap(True)
        self.meta.setTextFormat(Qt.TextFormat.PlainText)
        self.meta.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.meta)

        subject_row = QHBoxLayout()
        subject_row.setContentsMargins(0, 0, 0, 0)
        self.subject_icon = style.icon_label("account-lock-outline", 16, parent=self)
        subject_row.addWidget(self.subject_icon)
        self.subject_label = QLabel(self)
        self.subject_label.setObjectName("subjectLink")
        self.subject_label.setTextFormat(Qt.TextFormat.PlainText)
        self.subject_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        subject_row.addWidget(self.subject_label, 1)
        self.subject_button = QPushButton(icons.icon("account-eye-outline"), self.tr("Show linked user account"),
                                          self)
        self.subject_button.setObjectName("showSubjectButton")
        self.subject_button.setToolTip(self.tr("Shows which user account sent this crash report; the look is "
                                               "recorded in the audit log"))
        self.subject_button.clicked.connect(self.show_subject)
        subject_row.addWidget(self.subject_button)
        self.subject_frame = QFrame(self)
        self.subject_frame.setLayout(subject_row)
        layout.addWidget(self.subject_frame)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("eventTabs")
        self.tabs.setDocumentMode(True)
        self.stack = self._tree(["Frame", "Location"], "stackTrace")
        self.stack.setHeaderHidden(True)
        self.crumbs = self._tree(["Time", "Category", "Level", "Message"], "breadcrumbs")
        self.contexts = self._tree(["Key", "Value"], "contexts")
        self.raw = QPlainTextEdit(self)
        self.raw.setObjectName("rawJson")
        self.raw.setReadOnly(True)
        self.raw.setFont(_mono())
        self.raw.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.tabs.addTab(self.stack, icons.icon("layers-triple-outline"), self.tr("Stack trace"))
        self.tabs.addTab(self.crumbs, icons.icon("timeline-clock-outline"), self.tr("Breadcrumbs"))
        self.tabs.addTab(self.contexts, icons.icon("tag-multiple-outline"), self.tr("Contexts && tags"))
        self.tabs.addTab(self.raw, icons.icon("code-json"), self.tr("JSON"))
        layout.addWidget(self.tabs, 1)
        self.clear()

    def _tree(self, headers: list[str], name: str) -> QTreeWidget:
        tree = QTreeWidget(self)
        tree.setObjectName(name)
        tree.setHeaderLabels([self.tr(h) for h in headers])
        tree.setUniformRowHeights(False)
        tree.setAlternatingRowColors(False)
        tree.setRootIsDecorated(True)
        tree.setWordWrap(False)
        tree.header().setStretchLastSection(True)
        tree.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        return tree

    # ------------------------------------------------------------ showing

    def clear(self) -> None:
        self.detail = None
        self.linked_subject = None
        self.header.setText(self.tr("No event selected"))
        self.meta.setText(self.tr("Choose an event in the list above to see its stack trace, breadcrumbs and "
                                  "contexts."))
        self.subject_frame.hide()
        for tree in (self.stack, self.crumbs, self.contexts):
            tree.clear()
        self.raw.clear()
        self.tabs.setEnabled(False)

    def show_event(self, detail: EventDetail) -> None:
        self.detail = detail
        self.linked_subject = None
        payload = detail.payload
        row = detail.row
        exceptions = self._exceptions(payload)
        if exceptions:
            last = exceptions[-1]
            head = f"{last.get('type') or self.tr('Error')}: {last.get('value') or ''}".rstrip(": ")
        else:
            head = row.message or self.tr("(no message)")
        self.header.setText(head if len(head) <= 400 else head[:399] + "…")
        parts = [f"{fmt.local_time(row.occurred_at, seconds=True)} ({fmt.relative(row.occurred_at)})",
                 row.level, row.platform]
        parts += [p for p in (row.release, row.environment, row.os_name) if p]
        parts.append(self.tr("event %1").replace("%1", row.event_id))
        self.meta.setText(" · ".join(parts))
        self.meta.setToolTip(fmt.utc_tooltip(row.occurred_at))
        self._show_subject_row()
        self._fill_stack(exceptions)
        self._fill_crumbs(payload, row.occurred_at)
        self._fill_contexts(payload)
        self.raw.setPlainText(json.dumps(payload, ensure_ascii=False, indent=2))
        self.tabs.setEnabled(True)
        self.tabs.setTabText(1, self.tr("Breadcrumbs (%1)").replace("%1", str(self.crumbs.topLevelItemCount() - 1
                                                                               if self.crumbs.topLevelItemCount()
                                                                               else 0)))

    @staticmethod
    def _exceptions(payload: dict[str, Any]) -> list[dict[str, Any]]:
        exc = payload.get("exception")
        values = exc.get("values") if isinstance(exc, dict) else None
        return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []

    # ------------------------------------------------------------ subject

    def _show_subject_row(self) -> None:
        assert self.detail is not None
        if not self.detail.row.linked:
            self.subject_frame.hide()
            return
        self.subject_frame.show()
        if self.actor.can(Permission.SUBJECTS_VIEW):
            self.subject_label.setText(self.tr("This crash report belongs to a user account."))
            self.subject_button.show()
        else:
            self.subject_label.setText(self.tr("This crash report belongs to a user account; your role cannot "
                                               "see which."))
            self.subject_button.hide()

    def show_subject(self) -> None:
        """Look up the linked subject (audited by core) and show its user ID and name."""
        if self.detail is None:
            return
        try:
            subject = crashes.event_subject(self.actor, self.detail.row.id)
        except RcrmError as exc:
            self.subject_label.setText(exc.message)
            return
        self.linked_subject = subject
        if subject is None:
            self.subject_label.setText(self.tr("The user account was erased."))
        else:
            text = self.tr("User account %1 — %2").replace("%1", subject.user_id).replace("%2", subject.name)
            if subject.restricted:
                text += " · " + self.tr("restricted (GDPR Art. 18)")
            self.subject_label.setText(text)
        self.subject_button.hide()
        self.subject_shown.emit(subject)

    # ------------------------------------------------------------ stack trace

    def _fill_stack(self, exceptions: list[dict[str, Any]]) -> None:
        tree = self.stack
        tree.clear()
        palette = self.palette()
        highlight = palette.color(QPalette.ColorRole.Highlight)
        muted = palette.color(QPalette.ColorRole.PlaceholderText)
        mono = _mono()
        bold = QFont(self.font())
        bold.setWeight(QFont.Weight.DemiBold)
        if not exceptions:
            item = QTreeWidgetItem(tree, [self.tr("This event has no stack trace (it is a message)."), ""])
            item.setForeground(0, muted)
            item.setFirstColumnSpanned(True)  # the whole sentence, not the frame column's width of it
            return
        for index, exc in enumerate(reversed(exceptions)):
            title = f"{exc.get('type') or self.tr('Error')}"
            if exc.get("value"):
                title += f": {exc['value']}"
            top = QTreeWidgetItem(tree, [title, ""])
            top.setFont(0, bold)
            top.setIcon(0, icons.icon("alert-octagon-outline" if index == 0 else "link-variant",
                                      style.state_color(colors.OVERDUE).name() if index == 0 else None))
            mechanism = exc.get("mechanism") if isinstance(exc.get("mechanism"), dict) else {}
            notes = []
            if index > 0:
                notes.append(self.tr("caused the exception above"))
            if mechanism.get("handled") is False:
                notes.append(self.tr("unhandled"))
            elif mechanism.get("handled") is True:
                notes.append(self.tr("handled"))
            if mechanism.get("type"):
                notes.append(str(mechanism["type"]))
            top.setText(1, " · ".join(notes))
            top.setForeground(1, muted)
            top.setFirstColumnSpanned(False)
            frames = exc.get("stacktrace", {}).get("frames", []) if isinstance(exc.get("stacktrace"), dict) else []
            frames = [f for f in frames if isinstance(f, dict)]
            self._add_frames(top, list(reversed(frames)), highlight, muted, mono, bold)
            top.setExpanded(index == 0)
        tree.resizeColumnToContents(0)
        tree.setColumnWidth(0, min(max(tree.columnWidth(0), 320), 620))

    def _add_frames(self, parent: QTreeWidgetItem, frames: list[dict[str, Any]], highlight: QColor, muted: QColor,
                    mono: QFont, bold: QFont) -> None:
        if not frames:
            item = QTreeWidgetItem(parent, [self.tr("no stack frames"), ""])
            item.setForeground(0, muted)
            return
        any_in_app = any(f.get("in_app") is True for f in frames)
        library_run: list[dict[str, Any]] = []

        def flush() -> None:
            if not library_run:
                return
            if len(library_run) == 1 and not any_in_app:
                self._frame_item(parent, library_run[0], False, highlight, muted, mono, bold)
            else:
                names = sorted({str(f.get("module") or f.get("filename") or "?").split("/")[-1]
                                for f in library_run})
                text = (self.tr("1 library frame") if len(library_run) == 1 else
                        self.tr("%1 library frames").replace("%1", str(len(library_run))))
                group = QTreeWidgetItem(parent, [text, ", ".join(names[:3]) + (" …" if len(names) > 3 else "")])
                group.setIcon(0, icons.icon("bookshelf", muted.name()))
                group.setForeground(0, muted)
                group.setForeground(1, muted)
                group.setToolTip(0, self.tr("Frames outside the application's own code; expand to see them"))
                for frame in library_run:
                    self._frame_item(group, frame, False, highlight, muted, mono, bold)
                group.setExpanded(False)
            library_run.clear()

        for frame in frames:
            if frame.get("in_app") is True or not any_in_app:
                flush()
                self._frame_item(parent, frame, frame.get("in_app") is True, highlight, muted, mono, bold)
            else:
                library_run.append(frame)
        flush()

    def _frame_item(self, parent: QTreeWidgetItem, frame: dict[str, Any], in_app: bool, highlight: QColor,
                    muted: QColor, mono: QFont, bold: QFont) -> QTreeWidgetItem:
        function = frame.get("function") or "?"
        module = frame.get("module") or frame.get("filename") or frame.get("abs_path") or "?"
        line = frame.get("lineno")
        where = str(frame.get("filename") or frame.get("abs_path") or "")
        if line is not None:
            where += f":{line}" + (f":{frame['colno']}" if frame.get("colno") is not None else "")
        item = QTreeWidgetItem(parent, [f"{function}  ·  {module}", where])
        item.setData(0, Qt.ItemDataRole.UserRole, "in_app" if in_app else "library")
        item.setToolTip(1, str(frame.get("abs_path") or where))
        if in_app:
            item.setFont(0, bold)
            item.setIcon(0, icons.icon("application-braces-outline", highlight.name()))
            for column in (0, 1):
                item.setBackground(column, _tint(highlight, 40 if colors.is_dark() else 26))
            item.setToolTip(0, self.tr("In-app frame: the application's own code"))
        else:
            item.setIcon(0, icons.icon("book-open-page-variant-outline", muted.name()))
            item.setForeground(0, muted)
            item.setForeground(1, muted)
        context = frame.get("context_line")
        pre = [x for x in frame.get("pre_context") or [] if isinstance(x, str)]
        post = [x for x in frame.get("post_context") or [] if isinstance(x, str)]
        if isinstance(context, str):
            first = (line - len(pre)) if isinstance(line, int) else None
            for offset, text in enumerate([*pre, context, *post]):
                number = f"{first + offset:>5}" if first is not None else "     "
                is_context = offset == len(pre)
                code = QTreeWidgetItem(item, [f"{number}  {'▶' if is_context else ' '} {text}", ""])
                code.setFont(0, mono)
                code.setFirstColumnSpanned(True)
                if is_context:
                    code.setBackground(0, _tint(colors.OVERDUE, 46 if colors.is_dark() else 30))
                    code.setToolTip(0, self.tr("The line that was running"))
                else:
                    code.setForeground(0, muted)
        variables = frame.get("vars")
        if isinstance(variables, dict) and variables:
            group = QTreeWidgetItem(item, [self.tr("Variables (%1)").replace("%1", str(len(variables))), ""])
            group.setIcon(0, icons.icon("variable", muted.name()))
            group.setForeground(0, muted)
            for key, value in variables.items():
                var = QTreeWidgetItem(group, [str(key), _text(value)])
                var.setFont(0, mono)
                var.setFont(1, mono)
                var.setToolTip(1, _text(value)[:2000])
            group.setExpanded(in_app)
        item.setExpanded(in_app)
        return item

    def stack_items(self) -> list[QTreeWidgetItem]:
        """Every item of the stack-trace tree, depth first (tests, accessibility)."""
        out: list[QTreeWidgetItem] = []

        def walk(item: QTreeWidgetItem) -> None:
            out.append(item)
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.stack.topLevelItemCount()):
            walk(self.stack.topLevelItem(i))
        return out

    # ------------------------------------------------------------ breadcrumbs

    def _fill_crumbs(self, payload: dict[str, Any], occurred: dt.datetime) -> None:
        tree = self.crumbs
        tree.clear()
        crumbs = payload.get("breadcrumbs")
        values = crumbs.get("values") if isinstance(crumbs, dict) else crumbs
        values = [c for c in values if isinstance(c, dict)] if isinstance(values, list) else []
        muted = self.palette().color(QPalette.ColorRole.PlaceholderText)
        for crumb in values:
            when = _parse_time(crumb.get("timestamp"))
            if when is not None:
                delta = (when - occurred).total_seconds()
                time_text = f"{fmt.to_local(when):%H:%M:%S}"
                rel = f"{delta:+.1f} s" if abs(delta) < 600 else f"{delta / 60:+.0f} min"
                time_text += f"  ({rel})"
            else:
                time_text = "—"
            category = str(crumb.get("category") or crumb.get("type") or "default")
            level = str(crumb.get("level") or "info")
            message = crumb.get("message")
            data = crumb.get("data")
            text = _text(message) if message is not None else ""
            if isinstance(data, dict) and data:
                if {"method", "url"} <= data.keys():
                    summary = f"{data.get('method')} {data.get('url')}"
                    if data.get("status_code") is not None:
                        summary += f" → {data['status_code']}"
                else:
                    summary = ", ".join(f"{k}={_text(v)}" for k, v in data.items())
                text = f"{text}  {summary}".strip()
            item = QTreeWidgetItem(tree, [time_text, category, level, text])
            item.setIcon(1, icons.icon(CATEGORY_ICONS.get(category, CATEGORY_ICONS.get(category.split(".")[0],
                                                                                        "circle-small"))))
            item.setToolTip(3, text[:2000])
            item.setToolTip(0, fmt.utc_tooltip(when))
            item.setForeground(0, muted)
            color = LEVEL_COLORS.get(level)
            if color is not None:
                item.setForeground(2, style.state_color(color))
                if level in ("error", "fatal"):
                    item.setForeground(3, style.state_color(color))
        if values:
            crash = QTreeWidgetItem(tree, [f"{fmt.to_local(occurred):%H:%M:%S}  (0.0 s)", self.tr("exception"),
                                           self.detail.row.level if self.detail else "error",
                                           self.header.text()])
            crash.setIcon(1, icons.icon("bug-outline", style.state_color(colors.OVERDUE).name()))
            bold = QFont(self.font())
            bold.setWeight(QFont.Weight.DemiBold)
            for column in range(4):
                crash.setFont(column, bold)
            crash.setForeground(3, style.state_color(colors.OVERDUE))
        else:
            item = QTreeWidgetItem(tree, ["", "", "", self.tr("This event carries no breadcrumbs.")])
            item.setForeground(3, muted)
        for column, width in ((0, 150), (1, 120), (2, 70)):
            tree.setColumnWidth(column, width)

    # ------------------------------------------------------------ contexts and tags

    def _fill_contexts(self, payload: dict[str, Any]) -> None:
        tree = self.contexts
        tree.clear()
        bold = QFont(self.font())
        bold.setWeight(QFont.Weight.DemiBold)
        sections: list[tuple[str, str, Any]] = [
            (self.tr("Tags"), "tag-outline", payload.get("tags")),
        ]
        contexts = payload.get("contexts") if isinstance(payload.get("contexts"), dict) else {}
        ctx_icons = {"os": "monitor", "device": "cellphone", "app": "application-outline", "runtime": "language-python",
                     "browser": "web", "trace": "transit-connection-variant"}
        for name, value in contexts.items():
            icon = ctx_icons.get(str(name), "information-outline")
            sections.append((self.tr("Context: %1").replace("%1", str(name)), icon, value))
        for key, label, icon in (("request", self.tr("Request"), "swap-horizontal"),
                                 ("extra", self.tr("Extra data"), "text-box-plus-outline"),
                                 ("user", self.tr("User (scrubbed)"), "account-outline"),
                                 ("sdk", self.tr("SDK"), "package-variant")):
            if payload.get(key):
                sections.append((label, icon, payload.get(key)))
        for label, icon, value in sections:
            if not value:
                continue
            top = QTreeWidgetItem(tree, [label, ""])
            top.setFont(0, bold)
            top.setIcon(0, icons.icon(icon))
            self._add_value(top, value, depth=0)
            top.setExpanded(True)
        tree.setColumnWidth(0, 220)

    def _add_value(self, parent: QTreeWidgetItem, value: Any, depth: int) -> None:
        mono = _mono()
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else None
        if items is None:
            parent.setText(1, _text(value))
            return
        for key, child in items:
            item = QTreeWidgetItem(parent, [str(key), ""])
            if isinstance(child, dict | list) and child and depth < 6:
                self._add_value(item, child, depth + 1)
                item.setExpanded(depth < 1)
            else:
                item.setText(1, _text(child))
                item.setFont(1, mono)
                item.setToolTip(1, _text(child)[:2000])
