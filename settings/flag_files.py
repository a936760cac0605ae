"""The --flagfile lines a run writes (flags.txt), read back as text values."""


def parse_flag_lines(flags_text: str) -> dict[str, str]:
    """{flag name: value as text} from --flagfile lines; --name and --noname become "true" and
    "false"."""
    values = {}
    for line in flags_text.splitlines():
        if not line.startswith("--"):
            continue
        name, separator, value = line[2:].partition("=")
        if not separator:
            name, value = (name[2:], "false") if name.startswith("no") else (name, "true")
        values[name] = value
    return values
