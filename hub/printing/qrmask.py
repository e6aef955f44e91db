"""The ISO/IEC 18004 data mask of the pagoPA QR code (version 4-M), chosen fast.

ISO/IEC 18004:2015 7.8.3.1: the encoder scores all eight data masks with the penalty rules
N1..N4 and uses the one of lowest penalty. segno does that in pure Python, module by module
(about 2.2 ms of CPU per code). Here the symbol is built once by segno with mask 0, the unmasked
data is recovered by XOR-ing mask 0 back over the encoding region, and the eight candidates are
scored as bitboards: the whole 33x33 matrix is one Python int (and its transpose another), so
each rule is a few shifts, ANDs and ``int.bit_count()`` over all rows at once (the rows never
mix, see ``_STRIDE``). About 0.6 ms of CPU in all: segno's encoding at mask 0 takes 0.5 ms of
it, the eight scores 0.06 ms.

The scores are segno's own (``segno.encoder.mask_scores``), so the choice is exactly segno's
automatic one, ties included (the lowest-numbered mask wins). As in segno they are taken before
the format information is written: the format areas and the dark module are light while
scoring (some other encoders score with each mask's format information written, and pick another
mask for about a quarter of pagoPA payloads), and a finder-like 1:1:3:1:1 pattern at the
symbol's edge sees the quiet zone as light.
"""

from __future__ import annotations

from typing import NamedTuple

import segno

VERSION = 4
SIZE = 4 * VERSION + 17  # 33 modules a side
Matrix = tuple[tuple[bool, ...], ...]
Scores = tuple[int, int, int, int]  # (N1, N2, N3, N4), as segno.encoder.mask_scores

# Module (row i, column j) is bit i * _STRIDE + j of a board, column 0 the least significant.
# The 4 bits between two rows are always 0: they stand for the light quiet zone on either side
# of a row (what N3 looks at past the edge), and no 1:1:3:1:1 pattern can cross them (the
# pattern has no two light modules in a row). The rules that count equal neighbours (N1, N2)
# mask them out with _PAIRS.
_GAP = 4
_STRIDE = SIZE + _GAP


def _bit(i: int, j: int) -> int:
    return 1 << (i * _STRIDE + j)


def _board(cells) -> int:
    board = 0
    for i, j in cells:
        board |= _bit(i, j)
    return board


def _transpose(board: int) -> int:
    return _board((j, i) for i in range(SIZE) for j in range(SIZE) if board & _bit(i, j))


_ALL = range(SIZE)
_ROW = (1 << SIZE) - 1
_ROWS = sum(_ROW << (i * _STRIDE) for i in _ALL)  # every module of the symbol
# bit (i, j) of a pair board compares module (i, j) with (i, j + 1): columns 0..31 only
_PAIRS = sum((_ROW >> 1) << (i * _STRIDE) for i in _ALL)
# bit (i, j) of a vertical pair board compares (i, j) with (i + 1, j): rows 0..31 only
_VPAIRS = _ROWS >> _STRIDE


# --- the function patterns of version 4 (ISO/IEC 18004:2015 6.3, 7.9) -----------------------


def _function_region() -> tuple[int, int]:
    """(function patterns, format areas): the modules a data mask leaves alone."""
    last = SIZE - 1
    cells: set[tuple[int, int]] = set()
    for top, left in ((0, 0), (0, SIZE - 8), (SIZE - 8, 0)):  # finders with their separators
        cells.update((top + i, left + j) for i in range(8) for j in range(8))
    for k in range(8, SIZE - 8):  # timing patterns, row 6 and column 6
        cells.update(((6, k), (k, 6)))
    centre = SIZE - 7  # version 4 has one alignment pattern, centred on (26, 26)
    cells.update((centre + i, centre + j) for i in range(-2, 3) for j in range(-2, 3))
    # format information around the upper-left finder (row 8 and column 8 up to 8, skipping
    # the timing module), beside the other two finders, and the dark module at (25, 8)
    fmt = {(8, k) for k in range(9) if k != 6} | {(k, 8) for k in range(9) if k != 6}
    fmt |= {(8, last - k) for k in range(8)} | {(last - k, 8) for k in range(8)}
    return _board(cells), _board(fmt)


_FUNCTION, _FORMAT = _function_region()
_DATA = _ROWS & ~(_FUNCTION | _FORMAT)  # the encoding region
assert _DATA.bit_count() == 807, "version 4: 100 codewords and 7 remainder bits"

_MASK_CONDITIONS = (  # ISO/IEC 18004:2015 Table 10; i row, j column; True: flip the module
    lambda i, j: (i + j) % 2 == 0,
    lambda i, j: i % 2 == 0,
    lambda i, j: j % 3 == 0,
    lambda i, j: (i + j) % 3 == 0,
    lambda i, j: (i // 2 + j // 3) % 2 == 0,
    lambda i, j: (i * j) % 2 + (i * j) % 3 == 0,
    lambda i, j: ((i * j) % 2 + (i * j) % 3) % 2 == 0,
    lambda i, j: ((i + j) % 2 + (i * j) % 3) % 2 == 0,
)
# each mask as a board of the modules it flips, inside the encoding region; and transposed
_MASKS = tuple(
    _DATA & _board((i, j) for i in _ALL for j in _ALL if cond(i, j)) for cond in _MASK_CONDITIONS
)
_MASKS_T = tuple(_transpose(m) for m in _MASKS)
_FORMAT_T = _transpose(_FORMAT)


def _format_bits(mask: int) -> int:
    """The 15-bit format information of error level M and ``mask`` (ISO/IEC 18004 7.9.1):
    5 data bits (M is 00), a BCH(15,5) remainder (generator 0x537), XOR 0x5412."""
    data = mask  # error level M: the two level bits are 00
    rem = data << 10
    for shift in range(4, -1, -1):
        if rem & (1 << (shift + 10)):
            rem ^= 0x537 << shift
    return ((data << 10) | rem) ^ 0x5412


def _format_board(mask: int) -> int:
    """The dark modules of the format areas, placed as segno.encoder.add_format_info does."""
    info = _format_bits(mask)
    last = SIZE - 1
    cells = [(last - 7, 8)]  # the dark module
    for k in range(8):
        vbit, hbit = (info >> k) & 1, (info >> (14 - k)) & 1
        skip = k >= 6  # past the timing pattern's module
        if vbit:
            cells += [(k + skip, 8), (8, last - k)]
        if hbit:
            cells += [(8, k + skip), (last - k, 8)]
    return _board(cells)


_FORMATS = tuple(_format_board(m) for m in range(8))


# --- penalty rules (ISO/IEC 18004:2015 7.8.3.1, Table 11), as segno counts them -------------

_FINDER_LIKE = 0b1011101  # dark light dark dark dark light dark: a palindrome


def _n1(board: int) -> int:
    """Runs of 5 + i modules of one colour in a row score 3 + i (N1 = 3)."""
    same = ~(board ^ (board >> 1)) & _PAIRS  # bit j: module j equals module j + 1
    # bit j: modules j..j+4 are of one colour. A run of L >= 5 modules sets L - 4 bits in a
    # row, and scores L - 2: one per bit plus 2 per run (a run starts where bit j - 1 is 0).
    five = same & (same >> 1) & (same >> 2) & (same >> 3)
    return five.bit_count() + 2 * (five & ~(five << 1)).bit_count()


def _n3(board: int) -> int:
    """1:1:3:1:1 (dark:light:dark:dark:dark:light:dark) patterns with 4 light modules (or the
    quiet zone) before or after them, 40 each, found as segno's ``n3_pattern_occurrences``."""
    # four light modules before the first row (the others have the gap before them): a
    # pattern at columns 1-3 of the first row must see that row's own first modules as segno
    # does, not bits below 0 read as light
    b = board << 4
    # bit j: modules j..j+6 are the pattern (it reads the same both ways)
    found = b & ~(b >> 1) & (b >> 2) & (b >> 3) & (b >> 4) & ~(b >> 5) & (b >> 6)
    if not found:
        return 0
    dark4 = b | (b >> 1) | (b >> 2) | (b >> 3)  # bit j: a dark module among j..j+3
    # light before (j-4..j-1) or after (j+7..j+10); the gap bits are light, as the quiet zone
    light = ~((dark4 << 4) & (dark4 >> 7))
    if not (found & ((found >> 4) | (found >> 6))):
        # No two patterns overlap (they can only at a distance of 4 or 6): segno's scan
        # visits every one of them.
        return 40 * (found & light).bit_count()
    # Overlapping patterns: segno resumes its search 7 modules after a pattern that scored and
    # 4 after one that did not, so it skips some. Walk them in the same order (a row's last
    # pattern is at most at column 26, so a skip never reaches into the next row).
    count, resume = 0, 0
    while found:
        low = found & -found
        j = low.bit_length() - 1
        found ^= low
        if j < resume:
            continue
        if light & low:
            count += 40
            resume = j + 7
        else:
            resume = j + 4
    return count


def _scores(rows: int, cols: int) -> Scores:
    """segno's (N1, N2, N3, N4) of the symbol whose rows are ``rows`` and columns ``cols``."""
    n1 = _n1(rows) + _n1(cols)
    # N2 = 3 for every 2x2 block of one colour (overlapping blocks count apart)
    same_h = ~(rows ^ (rows >> 1)) & _PAIRS
    same_v = ~(rows ^ (rows >> _STRIDE)) & _VPAIRS
    n2 = 3 * (same_h & (same_h >> _STRIDE) & same_v).bit_count()
    n3 = _n3(rows) + _n3(cols)
    # N4 = 10 per 5% off 50% dark, with segno's own float arithmetic
    percent = float(rows.bit_count()) / (SIZE**2)
    n4 = 10 * int(abs(percent * 100 - 50) / 5)
    return n1, n2, n3, n4


# --- the symbol ------------------------------------------------------------------------------


class QrSymbol(NamedTuple):
    mask: int  # the lowest-penalty data mask, as segno's automatic choice
    matrix: Matrix  # its modules (True = dark), without the quiet zone


def _segno(payload: str, mask: int | None) -> segno.QRCode:
    return segno.make_qr(
        payload,
        error="m",
        version=VERSION,
        mode="byte",
        encoding="utf-8",
        boost_error=False,
        mask=mask,
    )


def _unmasked(payload: str) -> tuple[int, int]:
    """The symbol as scored before masking, as boards of rows and of columns: function
    patterns and data, the format areas light."""
    rows, cols = _boards(b"".join(_segno(payload, 0).matrix))
    # undo mask 0 over the encoding region, clear the format information of mask 0
    return ((rows & ~_FORMAT) ^ _MASKS[0]), ((cols & ~_FORMAT_T) ^ _MASKS_T[0])


_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def _boards(flat: bytes) -> tuple[int, int]:
    """The boards of rows and of columns of a symbol given as one byte (0 or 1) a module, row
    by row: the rows (or the columns, sliced at C speed) joined with light gaps, as a string
    of binary digits, reversed because int() reads the most significant digit first."""
    gap = bytes(_GAP)
    rows = gap.join(flat[i * SIZE : (i + 1) * SIZE] for i in _ALL)
    cols = gap.join(flat[j::SIZE] for j in _ALL)
    return (int(rows.translate(_TO_DIGITS)[::-1], 2), int(cols.translate(_TO_DIGITS)[::-1], 2))


def penalty_scores(payload: str) -> tuple[Scores, ...]:
    """segno's (N1, N2, N3, N4) penalties of the eight masks of the payload's symbol."""
    rows, cols = _unmasked(payload)
    return tuple(_scores(rows ^ m, cols ^ mt) for m, mt in zip(_MASKS, _MASKS_T, strict=True))


def qr_symbol(payload: str) -> QrSymbol:
    """The version 4-M, byte mode QR symbol of ``payload`` with the lowest-penalty mask: the
    same mask and modules as ``segno.make_qr(payload, error="m", version=4, mode="byte",
    encoding="utf-8", boost_error=False)``."""
    rows, cols = _unmasked(payload)
    best, best_score = 0, None
    for mask, (m, mt) in enumerate(zip(_MASKS, _MASKS_T, strict=True)):
        score = sum(_scores(rows ^ m, cols ^ mt))
        if best_score is None or score < best_score:  # strictly lower: the first mask wins ties
            best, best_score = mask, score
    return QrSymbol(best, _matrix((rows ^ _MASKS[best]) | _FORMATS[best]))


# a row of 33 modules as three 11-bit chunks, each looked up as a tuple of bools
_CHUNK = 11
_CHUNKS = tuple(tuple(bool(v >> k & 1) for k in range(_CHUNK)) for v in range(1 << _CHUNK))


def _matrix(board: int) -> Matrix:
    chunks, low = _CHUNKS, (1 << _CHUNK) - 1
    out = []
    for _ in _ALL:
        out.append(
            chunks[board & low]
            + chunks[(board >> _CHUNK) & low]
            + chunks[(board >> 2 * _CHUNK) & low]
        )
        board >>= _STRIDE
    return tuple(out)
