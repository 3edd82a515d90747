"""INPUT expansion for `llm-extract batch`: files, folders, globs, list files."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_extract.batch.inputs import count_inputs, expand_inputs
from llm_extract.errors import InputError


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    _touch(tmp_path / "a" / "b.pdf")
    _touch(tmp_path / "a" / "a.txt")
    _touch(tmp_path / "a" / "notes.docx")  # not a letter: folders skip it
    _touch(tmp_path / "a" / "deeper" / "c.PDF")
    _touch(tmp_path / "x y" / "ünïcødé lëtter.txt")
    return tmp_path


def test_folder_is_walked_recursively_sorted_letters_only(tree: Path) -> None:
    got = list(expand_inputs([tree / "a"]))
    assert got == [tree / "a" / "a.txt", tree / "a" / "b.pdf", tree / "a" / "deeper" / "c.PDF"]


def test_glob_recursive_and_unicode_paths_with_spaces(tree: Path) -> None:
    got = list(expand_inputs([str(tree / "**" / "*.txt")]))
    assert got == [tree / "a" / "a.txt", tree / "x y" / "ünïcødé lëtter.txt"]


def test_explicit_file_of_any_suffix_is_kept_so_the_batch_can_report_it(tree: Path) -> None:
    # A named .docx is the user's mistake: it must be reported, not silently dropped.
    assert list(expand_inputs([tree / "a" / "notes.docx"])) == [tree / "a" / "notes.docx"]


def test_missing_path_is_yielded_for_the_batch_to_record(tmp_path: Path) -> None:
    assert list(expand_inputs([tmp_path / "gone.pdf"])) == [tmp_path / "gone.pdf"]


def test_list_files_at_sign_and_lst_suffix_relative_to_the_list(tree: Path) -> None:
    listing = _touch(
        tree / "todo.lst",
        "# letters to do\n\na/b.pdf\n  x y/ünïcødé lëtter.txt  \n"
        + str(tree / "a" / "deeper")
        + "\n",
    )
    expected = [
        tree / "a" / "b.pdf",
        tree / "x y" / "ünïcødé lëtter.txt",
        tree / "a" / "deeper" / "c.PDF",
    ]
    assert list(expand_inputs([listing])) == expected
    plain = _touch(tree / "todo.txt", listing.read_text(encoding="utf-8"))
    assert list(expand_inputs([f"@{plain}"])) == expected


def test_expansion_is_lazy_and_keeps_no_memory_of_paths(tree: Path) -> None:
    # A path named twice comes twice (the batch keys by content and extracts it
    # once); remembering every path would make memory grow with the archive.
    gen = expand_inputs([tree / "a" / "b.pdf", tree / "a"])
    assert next(gen) == tree / "a" / "b.pdf"
    assert list(gen).count(tree / "a" / "b.pdf") == 1
    assert count_inputs([tree / "a" / "b.pdf", tree / "a"]) == 4


def test_unreadable_list_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read the list of paths"):
        list(expand_inputs([f"@{tmp_path / 'nope.lst'}"]))


def test_corpus_folder_expands_to_its_134_letters(corpus: Path) -> None:
    paths = list(expand_inputs([corpus]))
    assert len(paths) == 134
    assert sum(p.suffix == ".pdf" for p in paths) == 129
