"""Text for a terminal: what the evidence names can print, and what they cannot.

File names, and the notes that quote them, are chosen by whoever made the evidence. Everything
forgetalk prints about them on a terminal goes through :func:`terminal_text`, so a name can
neither start a line of its own nor drive the terminal; the JSON outputs keep the exact text.
"""

from __future__ import annotations


def terminal_text(text: str) -> str:
    """``text`` with every character a terminal would act on instead of show written as an escape.

    Why: the file name is the evidence's, so whoever made the evidence chose it. A newline in it
    printed a line of its own, such as a forged ``verdict: no evidence of manipulation found``
    above the real verdict; an ESC sequence could recolour or erase lines, and a right-to-left
    override reverse the extension. Undecodable name bytes (lone surrogates) become ``\\xNN``.
    """
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    return "".join(out)
