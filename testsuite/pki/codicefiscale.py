"""Codice Fiscale for natural persons, just enough to mint valid test identities.

Rules: CNS.md section 4 (surname/name letters, date, Belfiore code, check letter, omocodia).
"""

import datetime
import unicodedata

_MONTHS = "ABCDEHLMPRST"
_VOWELS = set("AEIOU")

# Odd positions (1st, 3rd, ... 15th): a digit and the letter in the same column share a value.
_ODD = {
    "0": 1, "1": 0, "2": 5, "3": 7, "4": 9, "5": 13, "6": 15, "7": 17, "8": 19, "9": 21,
    "A": 1, "B": 0, "C": 5, "D": 7, "E": 9, "F": 13, "G": 15, "H": 17, "I": 19, "J": 21,
    "K": 2, "L": 4, "M": 18, "N": 20, "O": 11, "P": 3, "Q": 6, "R": 8, "S": 12, "T": 14,
    "U": 16, "V": 10, "W": 22, "X": 25, "Y": 24, "Z": 23,
}

# Omocodia replaces digits right to left at these 1-based positions.
_OMOCODE_POSITIONS = (15, 14, 13, 11, 10, 8, 7)
_OMOCODE_LETTERS = "LMNPQRSTUV"


def _letters(text):
    # "NICOLÒ" -> "NICOLO", "D'AMICO" -> "DAMICO": accents and punctuation do not count.
    decomposed = unicodedata.normalize("NFD", text.upper())
    return "".join(c for c in decomposed if "A" <= c <= "Z")


def _split(text):
    letters = _letters(text)
    consonants = "".join(c for c in letters if c not in _VOWELS)
    vowels = "".join(c for c in letters if c in _VOWELS)
    return consonants, vowels


def surname_code(surname):
    consonants, vowels = _split(surname)
    return (consonants + vowels + "XXX")[:3]


def name_code(name):
    consonants, vowels = _split(name)
    if len(consonants) >= 4:
        return consonants[0] + consonants[2] + consonants[3]
    return (consonants + vowels + "XXX")[:3]


def check_letter(first15):
    if len(first15) != 15:
        raise ValueError("check letter needs exactly 15 characters")
    total = 0
    for index, char in enumerate(first15.upper()):
        if index % 2 == 0:  # 1-based odd position
            total += _ODD[char]
        else:
            total += int(char) if char.isdigit() else ord(char) - ord("A")
    return chr(ord("A") + total % 26)


def is_valid(cf):
    cf = cf.upper()
    return len(cf) == 16 and cf.isalnum() and check_letter(cf[:15]) == cf[15]


def codice_fiscale(surname, name, birth, female, belfiore):
    """birth: datetime.date; belfiore: 'H501' (municipality) or 'Z404' (foreign country)."""
    if not isinstance(birth, datetime.date):
        raise TypeError("birth must be a date")
    day = birth.day + (40 if female else 0)
    body = "%s%s%02d%s%02d%s" % (
        surname_code(surname), name_code(name), birth.year % 100,
        _MONTHS[birth.month - 1], day, belfiore.upper(),
    )
    return body + check_letter(body)


def omocode(cf, level=1):
    """Replace the `level` rightmost substitutable digits by letters (level 1..7)."""
    chars = list(cf.upper()[:15])
    for position in _OMOCODE_POSITIONS[:level]:
        char = chars[position - 1]
        if char.isdigit():
            chars[position - 1] = _OMOCODE_LETTERS[int(char)]
    body = "".join(chars)
    return body + check_letter(body)
