"""The documentation a newcomer reads: the README stays short, every relative link and image in
README.md and docs/*.md points at something in the repository (a file, and a heading where the
link names one), and the quick start's commands are the ones CI and the quick start script run."""
import glob
import os
import re
import unittest

from helpers import SRC

README = os.path.join(SRC, "README.md")
MAX_README_LINES = 260
MAX_IMAGE_BYTES = 300 * 1024
# [text](target) and ![alt](target); a target may carry a "title".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*```")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def prose(text):
    """The lines outside fenced code blocks, where links are links."""
    lines, in_code = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            lines.append(line)
    return lines


def anchors(text):
    """The anchors GitHub makes for a file's headings: lower case, punctuation dropped (hyphens
    and underscores kept), spaces to hyphens, repeats numbered."""
    seen, result = {}, set()
    for line in prose(text):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return result


def documents():
    return [README] + sorted(glob.glob(os.path.join(SRC, "docs", "*.md")))


def code_block_after(text, heading):
    """The first fenced block's lines under the heading that starts with `heading`."""
    start = text.index("\n" + heading)
    lines = text[start:].splitlines()[1:]
    block, inside = [], False
    for line in lines:
        if FENCE.match(line):
            if inside:
                return block
            inside = True
        elif inside:
            block.append(line)
    raise AssertionError(f"no code block under {heading!r}")


class Docs(unittest.TestCase):
    def test_readme_is_short(self):
        with open(README, encoding="utf-8") as f:
            count = sum(1 for _ in f)
        self.assertLessEqual(count, MAX_README_LINES, "README.md: move details into docs/")

    def test_every_relative_link_and_image_exists(self):
        checked = 0
        for doc in documents():
            text = read(doc)
            for line in prose(text):
                for target in LINK.findall(line):
                    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                        continue
                    path, _, anchor = target.partition("#")
                    where = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
                    name = os.path.relpath(doc, SRC)
                    self.assertTrue(os.path.exists(where), f"{name}: {target} does not exist")
                    self.assertTrue(os.path.realpath(where).startswith(os.path.realpath(SRC) + os.sep),
                                    f"{name}: {target} points outside the repository")
                    if anchor and where.endswith(".md"):
                        self.assertIn(anchor, anchors(read(where)), f"{name}: {target}: no such heading")
                    checked += 1
        self.assertGreater(checked, 20)

    def test_readme_images_are_small_pngs(self):
        images = [t for line in prose(read(README)) for t in re.findall(r"!\[[^\]]*\]\(([^)\s]+)", line)]
        self.assertGreaterEqual(len(images), 4, "one screenshot per mode")
        for image in images:
            path = os.path.join(SRC, image)
            with open(path, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", image)
            self.assertLess(os.path.getsize(path), MAX_IMAGE_BYTES, image)

    def test_quick_start_commands_are_what_ci_and_the_script_run(self):
        text = read(README)
        commands = [line.split("#")[0].strip() for line in code_block_after(text, "## Quick start")]
        commands = [c for c in commands if c]
        self.assertEqual(commands, ["scripts/quickstart.sh", "scripts/test.sh"])
        for command in commands:
            self.assertTrue(os.access(os.path.join(SRC, command), os.X_OK), command)
        # CI runs exactly the README's test command.
        ci = [line.strip() for line in read(os.path.join(SRC, ".ci", "run")).splitlines()]
        self.assertIn("exec scripts/test.sh", ci)
        # The quick start profiles examples/hello.py into hello.callgrind, which the README opens,
        # and installs with the command the README gives.
        quickstart = read(os.path.join(SRC, "scripts", "quickstart.sh"))
        self.assertIn("-o hello.callgrind examples/hello.py", quickstart)
        self.assertIn("kcachegrind hello.callgrind", text)
        self.assertIn("examples/hello.py", text)
        self.assertIn("cmake --install build --prefix", quickstart)
        self.assertIn("cmake --install build --prefix", text)

    def test_readme_examples_exist(self):
        for name in sorted(set(re.findall(r"examples/[\w.]+\.py", read(README)))):
            self.assertTrue(os.path.exists(os.path.join(SRC, name)), name)


if __name__ == "__main__":
    unittest.main()
