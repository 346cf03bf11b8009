#!/usr/bin/env python3
"""vramguard.1 from the docs, at build time: the README's command tables (a line per command) and
Environment table, and docs/cli.md (each command in full, the exit statuses), converted from
their Markdown to man(7) roff.

Usage: man_page.py VERSION OUT CLI_MD README_MD

Handles what those files use: headings, paragraphs, bullet lists, fenced code blocks, tables,
`code`, **bold**, *emphasis* and [links](target). Deterministic (no date), so the same docs give
the same page.
"""
import re
import sys


def escape(text):
    text = text.replace("\\", "\\e")
    # A line starting with . or ' would be a roff request.
    return re.sub(r"^([.'])", r"\\&\1", text)


def inline(text):
    text = escape(text.replace("\\`", "\x01"))
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\\fI\1\\fR", text)
    text = text.replace("\\|", "|").replace("\x01", "`")
    return text


def cells(row):
    row = row.strip().strip("|").replace("\\|", "\x00")
    return [c.strip().replace("\x00", "|") for c in row.split("|")]


def convert(markdown, skip_title=True):
    out = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            out.append(".PP\n.RS 4\n.nf")
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(escape(lines[i]))
                i += 1
            out.append(".fi\n.RE")
            i += 1
            continue
        heading = re.match(r"^(#+)\s+(.*)$", line)
        if heading:
            level, title = len(heading.group(1)), heading.group(2)
            if level == 1:
                if not skip_title:
                    out.append(".SH " + inline(title).upper())
            elif level == 2:
                # "EXIT STATUSES", but a command's synopsis as written: `vramguard gpus [--json]`.
                name = inline(title) if "`" in title else inline(title).upper()
                out.append('.SH "' + name.replace('"', "") + '"')
            else:
                out.append('.SS "' + inline(title).replace('"', "") + '"')
            i += 1
            continue
        if line.startswith("|"):
            header = cells(line)
            i += 1
            if i < len(lines) and re.match(r"^\|[-| :]+\|?$", lines[i]):
                i += 1
            while i < len(lines) and lines[i].startswith("|"):
                row = cells(lines[i])
                out.append(".TP\n" + inline(row[0]))
                rest = [inline(c) for c in row[1:]]
                out.append(" \\(em ".join(rest) if rest else "")
                i += 1
            del header
            continue
        if re.match(r"^\s*- ", line):
            text = re.sub(r"^\s*- ", "", line)
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and not re.match(r"^\s*- ", lines[i]):
                text += " " + lines[i].strip()
                i += 1
            out.append(".IP \\(bu 2\n" + inline(text))
            continue
        if not line.strip():
            i += 1
            continue
        para = [line.strip()]
        i += 1
        while i < len(lines) and lines[i].strip() and not re.match(r"^(#|```|\||\s*- )", lines[i]):
            para.append(lines[i].strip())
            i += 1
        out.append(".PP\n" + inline(" ".join(para)))
    return "\n".join(out)


def section(markdown, title):
    """The text under `## title` up to the next heading of that level."""
    m = re.search(r"^## " + re.escape(title) + r"\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    if not m:
        sys.exit(f"man_page.py: the README has no '## {title}' section")
    return m.group(1)


def command_tables(markdown):
    """Every row of the README's '| command | what |' tables: the one-line summary of each command."""
    rows = []
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\|\s*command\s*\|\s*what\s*\|", line):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                rows.append(lines[j])
                j += 1
    if not rows:
        sys.exit("man_page.py: the README has no '| command | what |' table")
    return "| command | what |\n|---|---|\n" + "\n".join(rows) + "\n"


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: man_page.py VERSION OUT CLI_MD README_MD")
    version, out_path, cli_md, readme_md = sys.argv[1:]
    cli = open(cli_md, encoding="utf-8").read()
    readme = open(readme_md, encoding="utf-8").read()
    page = [
        f'.TH VRAMGUARD 1 "" "vramguard {version}" "User Commands"',
        ".SH NAME",
        "vramguard \\- see exactly who holds GPU memory, get it back, supervise GPU services",
        ".SH SYNOPSIS",
        ".B vramguard",
        ".I command",
        "[\\fIoptions\\fR]",
        ".br",
        ".B vramguard",
        "\\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR",
        ".SH COMMANDS",
        convert(command_tables(readme)),
        ".SH DESCRIPTION",
        convert(cli),
        ".SH ENVIRONMENT",
        convert(section(readme, "Environment")),
        ".SH FILES",
        ".TP\n\\fI~/.config/vramguard/vramguard.toml\\fR, \\fI/etc/vramguard/vramguard.toml\\fR",
        "the config file of a user's daemon and of the system daemon (\\fBvramguard init\\fR writes one)",
        ".TP\n\\fI$XDG_RUNTIME_DIR/vramguard.sock\\fR, \\fI/run/vramguard/vramguard.sock\\fR",
        "their control sockets",
        ".SH SEE ALSO",
        "\\fBsystemctl\\fR(1); the full documentation in /usr/share/doc/vramguard/ or the source "
        "tree's docs/ (config.md, daemon.md, api.md, jobs.md, oom.md)",
    ]
    text = "\n".join(page) + "\n"
    # Every line that starts a request must start at column 0; tidy blank lines.
    text = re.sub(r"\n{2,}", "\n", text)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
