"""ef21tools.doccommands: which lines of a markdown page are commands."""

import pytest

from ef21tools import doccommands

PAGE = """# Title

```
scripts/demo.sh     # install, build
scripts/test.sh
```

Output:

```text
method  seconds
EF21    0.1
```

```sh
# a comment line
ef21 aggregator --listen=0.0.0.0:50051 \\
    --data=x --rounds=100
ef21 health --target=HOST:50051      # exit 0 when SERVING

docker run --rm ef21:latest --help
```

```json
{"not": "a command"}
```
"""


def test_commands_and_their_lines():
    got = [(c.line, c.text) for c in doccommands.commands(PAGE, "P.md")]
    assert got == [(4, "scripts/demo.sh     # install, build"), (5, "scripts/test.sh"),
                   (17, "ef21 aggregator --listen=0.0.0.0:50051 --data=x --rounds=100"),
                   (19, "ef21 health --target=HOST:50051      # exit 0 when SERVING"),
                   (21, "docker run --rm ef21:latest --help")]
    assert repr(doccommands.commands(PAGE, "P.md")[1]) == "P.md:5: scripts/test.sh"


def test_text_blocks_are_output_not_commands():
    assert doccommands.text_blocks(PAGE) == [["method  seconds", "EF21    0.1"]]


def test_an_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="line 1 is never closed"):
        doccommands.blocks("```sh\nls\n")


def test_a_longer_fence_holds_a_shorter_one():
    page = "````\necho '```'\n````\n"
    assert [c.text for c in doccommands.commands(page)] == ["echo '```'"]
