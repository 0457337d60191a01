"""Unit tests for the TUI's pure parts: key mapping, COM1 text, guest stats lines, key scripts,
screen rows and the status figures."""
from __future__ import annotations

from bareflow.emu.session.keys import char_scancodes
from bareflow.tui.keymap import key_scancodes, text_scancodes
from bareflow.tui.profile import parse_jit, parse_stats, sort_profile
from bareflow.emu.session.runner import KeyScript
from bareflow.tui.screen import CGA_PALETTE, CP437, VgaScreen
from bareflow.tui.serial import LineSplitter, SerialText, key_bytes
from bareflow.tui.status import RateMeter, format_time
from bareflow.tui.cpu import eflags_text, decode_bits, CR0_BITS


def test_letters_digits_and_shifted_symbols():
    assert char_scancodes("a") == [0x1E, 0x9E]
    assert char_scancodes("A") == [0x2A, 0x1E, 0x9E, 0xAA]
    assert char_scancodes("1") == [0x02, 0x82]
    assert char_scancodes("!") == [0x2A, 0x02, 0x82, 0xAA]
    assert char_scancodes(" ") == [0x39, 0xB9]
    assert char_scancodes("\n") == [0x1C, 0x9C]
    assert char_scancodes("é") is None


def test_named_keys_and_modifiers():
    assert key_scancodes("enter", "\r") == [0x1C, 0x9C]
    assert key_scancodes("backspace", "\x7f") == [0x0E, 0x8E]
    assert key_scancodes("tab", "\t") == [0x0F, 0x8F]
    assert key_scancodes("escape", "\x1b") == [0x01, 0x81]
    assert key_scancodes("up") == [0xE0, 0x48, 0xE0, 0xC8]
    assert key_scancodes("left") == [0xE0, 0x4B, 0xE0, 0xCB]
    assert key_scancodes("ctrl+c", "\x03") == [0x1D, 0x2E, 0xAE, 0x9D]
    assert key_scancodes("alt+x", "x") == [0x38, 0x2D, 0xAD, 0xB8]
    assert key_scancodes("shift+up") == [0x2A, 0xE0, 0x48, 0xE0, 0xC8, 0xAA]
    # Textual names punctuation: the character decides
    assert key_scancodes("exclamation_mark", "!") == [0x2A, 0x02, 0x82, 0xAA]
    assert key_scancodes("space", " ") == [0x39, 0xB9]
    assert key_scancodes("f12") == [0x58, 0xD8]
    assert key_scancodes("ctrl+alt+delete") == [0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D]
    assert text_scancodes("hi\n") == [0x23, 0xA3, 0x17, 0x97, 0x1C, 0x9C]


def test_serial_key_bytes():
    assert key_bytes("enter", "\r") == b"\n"
    assert key_bytes("a", "a") == b"a"
    assert key_bytes("ctrl+c", "\x03") == b"\x03"
    assert key_bytes("up", None) == b"\x1b[A"
    assert key_bytes("pageup", None) is None  # scrolls the log instead


def test_serial_text_handles_split_crlf_and_controls():
    st = SerialText()
    assert st.feed(b"hello\r") == "hello"
    assert st.feed(b"\nworld\r\n> ") == "\nworld\n> "
    assert st.feed(b"a\x07b\tc\xb0") == "ab    c░"  # "> ab" then a tab to column 8
    wrapped = SerialText(wrap=4)
    assert wrapped.feed(b"abcdef\r\nxy") == "abcd\nef\nxy"
    assert wrapped.feed(b"zwv") == "zw\nv"
    ls = LineSplitter()
    assert ls.feed("one\ntw") == ["one"]
    assert ls.feed("o\n> ") == ["two"]
    assert ls.partial == "> "


def test_guest_stats_lines():
    j = parse_jit("[jit] matmul calls=1234 avg_cycles=56789 level=2")
    assert (j.name, j.calls, j.avg_cycles, j.level) == ("matmul", 1234, 56789, 2)
    assert parse_jit("[jit] matmul calls=1") is None
    assert parse_jit("matmul calls=1 avg_cycles=2 level=0") is None
    s = parse_stats("[stats] tokens=40 cycles_per_token=1500000 heap_peak=9000000")
    assert (s.tokens, s.cycles_per_token, s.heap_peak) == (40, 1500000, 9000000)
    assert parse_stats("[stats] heap_peak=1") is None


def test_profile_sorting_and_share():
    rows = sort_profile([("a", 1, 100, 400), ("b", 3, 300, 300)])
    assert [r[0] for r in rows] == ["b", "a"]
    assert rows[0][4] == 75.0 and rows[1][4] == 25.0


def test_key_script_waits_for_each_pattern_after_the_previous_text():
    ks = KeyScript([("> ", "hello\n"), ("> ", "quit\n")])
    assert ks.due(b"boot\n") == []
    assert ks.due(b"> ") == ["hello\n"]
    # the same prompt does not release the next text twice
    assert ks.due(b"") == []
    assert ks.due(b"hello\nworld\n>") == []
    assert ks.due(b" ") == ["quit\n"]          # a pattern split across two calls
    assert ks.done
    assert KeyScript([(None, "x")]).due() == ["x"]
    two = KeyScript([("ready", "a"), (None, "b"), ("> ", "c")])
    assert two.due(b"rea") == [] and two.due(b"dy> ") == ["a", "b"]   # "> " came before "b" was typed
    assert two.due(b"> ") == ["c"]
    again = KeyScript([("> ", "x")])
    assert again.due(b">") == []
    again.restart_output()                       # a reset: the half prompt before it does not count
    assert again.due(b" ") == [] and again.due(b"> ") == ["x"]


def test_screen_rows_colours_and_cursor():
    scr = VgaScreen(blink=False)
    data = bytearray(b" \x07" * 2000)
    assert scr.update_frame(bytes(data), (0, 0, False)) == 25  # first frame: every row
    data[0:4] = b"H\x1fi\x4e"          # white on blue, yellow on red
    data[160:162] = b"\x01\x07"        # smiley glyph from code page 437
    assert scr.update_frame(bytes(data), (1, 5, True)) == 2  # rows 0 and 1 (the cursor moved 0 -> 1)
    assert scr.text()[0].startswith("Hi ")
    assert scr.text()[1][0] == "☺"
    segs = list(scr.render_line(0))
    assert segs[0].text == "H" and segs[0].style.color.name == CGA_PALETTE[0xF].lower()
    assert segs[0].style.bgcolor.name == CGA_PALETTE[1].lower()
    assert segs[1].text == "i" and segs[1].style.bgcolor.name == CGA_PALETTE[4].lower()
    row1 = list(scr.render_line(1))
    assert any(s.style.reverse for s in row1 if s.text == " " and len(s.text) == 1)
    # unchanged frame: nothing redrawn
    assert scr.update_frame(bytes(data), (1, 5, True)) == 0
    assert len(CP437) == 256 and CP437[0xDB] == "█"


def test_blink_attribute_hides_text_in_off_phase():
    scr = VgaScreen(blink=True)
    data = bytearray(b" \x07" * 2000)
    data[0:2] = b"X\x8f"  # blinking bright white
    scr.update_frame(bytes(data), (24, 0, False))
    assert list(scr.render_line(0))[0].style.color.name == "#ffffff"
    scr.tick_blink()
    scr.tick_blink()  # the character phase flips every second tick
    first = list(scr.render_line(0))[0]
    assert first.style.color == first.style.bgcolor


def test_blink_rests_in_its_visible_phase_after_a_while_without_change(monkeypatch):
    import bareflow.tui.screen as screen_mod
    scr = VgaScreen(blink=True)
    data = bytearray(b" \x07" * 2000)
    data[0:2] = b"X\x8f"
    scr.update_frame(bytes(data), (3, 0, True))
    scr.tick_blink()                              # active: the cursor phase flips
    assert not scr._cursor_phase_on
    now = screen_mod.time.monotonic() + screen_mod.BLINK_IDLE_S + 1
    monkeypatch.setattr(screen_mod.time, "monotonic", lambda: now)
    for _ in range(8):                            # idle: it reaches the visible phase and stays
        scr.tick_blink()
    assert scr._cursor_phase_on and scr._char_phase_on
    ticks = scr._ticks
    scr.tick_blink()
    assert scr._ticks == ticks, "resting: no redraw"
    data[2:4] = b"Y\x07"                         # a change on the screen: blinking again
    scr.update_frame(bytes(data), (3, 0, True))
    scr.tick_blink()
    assert scr._ticks == ticks + 1 and not scr._cursor_phase_on


def test_status_figures():
    assert format_time(150_000_000) == "1.500000 s"
    meter = RateMeter(window=1.0)
    assert meter.sample(0, now=10.0) is None
    assert meter.sample(50, now=10.5) == 100.0
    assert meter.sample(150, now=11.0) == 150.0
    assert eflags_text(0x3246) == "PF ZF IF IOPL=3"
    assert decode_bits(0x80000011, CR0_BITS) == ["PE", "ET", "PG"]


def test_every_mapped_key_is_a_real_set1_sequence():
    """What the TUI sends must be accepted by the keyboard device (set 1 -> set 2)."""
    from bareflow.devices.scancodes import set1_to_set2
    from bareflow.tui.keymap import _NAMED
    keys = [(chr(c), chr(c)) for c in range(0x20, 0x7F)]
    keys += [(name, None) for name in _NAMED]
    keys += [(f"ctrl+{c}", None) for c in "abcdefghijklmnopqrstuvwxyz"]
    keys += [("alt+f4", None), ("shift+tab", None), ("ctrl+alt+delete", None)]
    for key, char in keys:
        codes = key_scancodes(key, char)
        assert codes, key
        assert set1_to_set2(codes), key
        makes = [c for c in codes if c not in (0xE0,) and not c & 0x80]
        breaks = [c & 0x7F for c in codes if c not in (0xE0,) and c & 0x80]
        assert sorted(makes) == sorted(breaks), key  # every key pressed is released


def test_paste_keeps_only_typeable_characters():
    from bareflow.emu.session.keys import typeable_text
    assert typeable_text("héllo\tworld\n") == ("hllo\tworld\n", 1)


def test_pseudo_function_names_are_not_markup():
    """The machine names code outside the ELF '[bios]', '[boot sector]': shown verbatim."""
    from bareflow.tui.profile import TextTable
    table = TextTable(("function", "calls"))
    table.set_rows([("[boot sector]", "12,345"), ("kmain", "1")])
    lines = table.text_lines()
    assert lines[0].split() == ["function", "calls"]
    assert lines[1] == " [boot sector]  12,345"
    assert lines[2] == " kmain               1"
