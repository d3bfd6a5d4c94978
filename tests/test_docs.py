"""The README is a front door and the reference pages hold together: the two commands first, every page linked,
every link resolving. The commands marked runnable (an HTML comment ``<!-- runnable -->`` before a fenced bash
block) run on the finished smoke run in tests/test_pipeline.py; this module extracts them."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BENCHMARK_PAGES = [REPO / "benchmarks" / "README.md", REPO / "benchmarks" / "history.md"]  # summary and its log
RUNNABLE = "<!-- runnable -->"


def bash_blocks(text: str) -> list[tuple[bool, str]]:
    """(marked runnable, the block's commands with backslash continuations joined) of each fenced bash block."""
    blocks = []
    for match in re.finditer(r"(?ms)^(?P<mark><!-- runnable -->\n)?```bash\n(?P<body>.*?)^```", text):
        blocks.append((match.group("mark") is not None, match.group("body").replace("\\\n", " ")))
    return blocks


def runnable_commands() -> list[tuple[str, str]]:
    """(page, command line) of every command in a runnable block, in page order."""
    return [(page.name, line.strip()) for page in PAGES for runnable, body in bash_blocks(page.read_text())
            if runnable for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_is_a_front_door_with_the_two_commands_first():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) < 150
    first_two = [body.strip() for _, body in bash_blocks(text)[:2]]
    assert first_two == ["bash .ci/setup && . .venv/bin/activate && snakemake --cores 8 reports/all",
                         "bash .ci/setup && .venv/bin/python -m pytest -q tests"]
    assert ".venv/bin/python -m pytest -q tests" in (REPO / ".ci/run").read_text()  # what CI runs is the second


def test_every_reference_page_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text()
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, f"README does not link docs/{page.name}"


def test_every_relative_link_and_anchor_resolves():
    for page in [*PAGES, *BENCHMARK_PAGES]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            assert resolved.exists(), f"{page.relative_to(REPO)}: link {target} points nowhere"
            if anchor and resolved.suffix == ".md":
                anchors = {slug(h) for h in re.findall(r"(?m)^#+ (.*)$", resolved.read_text())}
                assert anchor in anchors, f"{page.relative_to(REPO)}: no heading for #{anchor} in {path or page.name}"


def test_runnable_blocks_are_found():
    commands = runnable_commands()
    assert ("profiles.md", "genbench list") in commands
    assert any(page == "metrics.md" and command.startswith("genbench metrics --real data/mnist/test.npz")
               for page, command in commands)
    assert bash_blocks("<!-- runnable -->\n```bash\na \\\n  b\n```\n```bash\nc\n```\n") == [(True, "a    b\n"),
                                                                                          (False, "c\n")]
