"""The text normaliser: every spelling rule against hand-written readings, the three forms of a
sentence, the caption round trip on samples of every text file, and reading plain and .gz files."""

from __future__ import annotations

import gzip
from itertools import islice
from pathlib import Path

import pytest

from s2t_stream.errors import S2TError
from s2t_stream.training.textnorm import (
    Spelled,
    caption_text,
    cardinal,
    digits,
    house_number,
    normalize_text,
    ordinal,
    read_text_lines,
    speech_text,
    spell,
    spell_or_reason,
    year,
)
from s2t_stream.training.texts import TEXT_SOURCES, TextSource, source_path


def test_number_words() -> None:
    assert cardinal(0) == "zero"
    assert cardinal(105) == "one hundred five"
    assert cardinal(1500) == "one thousand five hundred"
    assert cardinal(2_000_021) == "two million twenty one"
    assert ordinal(22) == "twenty second"
    assert ordinal(100) == "one hundredth"
    assert ordinal(101) == "one hundred first"
    assert digits("0865") == "zero eight six five"


@pytest.mark.parametrize(
    ("n", "words"),
    [(1863, "eighteen sixty three"), (1805, "eighteen oh five"), (1900, "nineteen hundred"),
     (1100, "eleven hundred"), (2024, "twenty twenty four"), (2010, "twenty ten"),
     (2005, "two thousand five"), (2000, "two thousand"), (1099, "one thousand ninety nine"),
     (9999, "nine thousand nine hundred ninety nine")],
)  # fmt: skip
def test_year(n: int, words: str) -> None:
    assert year(n) == words


@pytest.mark.parametrize(
    ("run", "words"),
    [("7", "seven"), ("42", "forty two"), ("630", "six thirty"), ("105", "one oh five"),
     ("100", "one hundred"), ("1227", "twelve twenty seven"), ("2001", "twenty oh one"),
     ("1900", "nineteen hundred"), ("7000", "seven thousand"), ("18300", "eighteen three hundred"),
     ("43917", "forty three nine seventeen"), ("12045", "twelve oh forty five"),
     ("10005", "ten oh oh five"), ("10000", "ten thousand")],
)  # fmt: skip
def test_house_number(run: str, words: str) -> None:
    assert house_number(run) == words


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # kept from the hand-written speller: cardinals, grouped thousands, years, ordinals
        ("He was born in 1863.", "he was born in eighteen sixty three"),
        (
            "In 1805 and 1900 and 2005 and 2024.",
            "in eighteen oh five and nineteen hundred and two thousand five and twenty twenty four",
        ),
        (
            "He had 3 dogs, 42 cats and 1,500 men.",
            "he had three dogs forty two cats and one thousand five hundred men",
        ),
        (
            "9999 and 0 and 105",
            "nine thousand nine hundred ninety nine and zero and one hundred five",
        ),
        (
            "2,000,000 ants and 125,000 bees",
            "two million ants and one hundred twenty five thousand bees",
        ),
        ("Please transfer 1200 bucks.", "please transfer twelve hundred bucks"),
        (
            "The 1st, 2nd, 3rd, 11th, 22nd and 100th.",
            "the first second third eleventh twenty second and one hundredth",
        ),
        ("On the 22ND and the 12Th", "on the twenty second and the twelfth"),
        # decades and short years
        ("In the 1860s.", "in the eighteen sixties"),
        (
            "The '90s, the 70's and the 1990's",
            "the nineties the seventies and the nineteen nineties",
        ),
        ("A song from '15 or '05?", "a song from fifteen or oh five"),
        # decimals and percent
        (
            "It is rated 2.5, or 4.0, or 0.75.",
            "it is rated two point five or four point zero or zero point seven five",
        ),
        ("Tune into 99.5 FM.", "tune into ninety nine point five fm"),
        ("50% of them and 2.5 % of us", "fifty percent of them and two point five percent of us"),
        # times
        ("at 7:30", "at seven thirty"),
        ("at 7:05", "at seven oh five"),
        ("at 7:00", "at seven o'clock"),
        ("at 14:30 or 18:00", "at fourteen thirty or eighteen hundred"),
        ("at 7:00 pm", "at seven p m"),
        ("at 7pm, 7 PM, 7 p.m. or 7P.M.", "at seven p m seven p m seven p m or seven p m"),
        ("from 10:45 AM to 12:15 am", "from ten forty five a m to twelve fifteen a m"),
        ("at 9.30pm", "at nine thirty p m"),
        ("in the a.m.", "in the a m"),
        # money
        ("It's $42.50.", "it's forty two dollars fifty cents"),
        ("It's $5, not $1.", "it's five dollars not one dollar"),
        ("Only $0.99 or $1.01", "only ninety nine cents or one dollar one cent"),
        ("The rent is $2,400.", "the rent is two thousand four hundred dollars"),
        ("It costs $42.00", "it costs forty two dollars"),
        ("$1.5 million and $2 billion", "one point five million dollars and two billion dollars"),
        ("a $50k salary", "a fifty thousand dollars salary"),
        ("It is $5 dollars", "it is five dollars"),
        ("$5-$10 each", "five dollars to ten dollars each"),
        # numbers, ranges, minus, arithmetic
        ("room #3 and Suite #105", "room number three and suite number one hundred five"),
        ("My No.1 Sushi", "my number one sushi"),
        ("in 5-10 minutes", "in five to ten minutes"),
        ("from 9:30-10:30pm", "from nine thirty to ten thirty p m"),
        ("between 3 - 5 pm", "between three to five p m"),
        ("Resolve this 30 -12", "resolve this thirty minus twelve"),
        (
            "what is 5+2 and 8x7, and 4 + 5 = 9",
            "what is five plus two and eight times seven and four plus five equals nine",
        ),
        # units
        ("a 5 oz cup, 1 oz of it", "a five ounces cup one ounce of it"),
        ("60 kg is 132 lbs", "sixty kilograms is one hundred thirty two pounds"),
        ("a 15 min ride at 65 mph", "a fifteen minutes ride at sixty five miles per hour"),
        ("It will be 84 F today", "it will be eighty four degrees fahrenheit today"),
        # phone numbers: digit by digit
        ("Call 415-924-1192.", "call four one five nine two four one one nine two"),
        (
            "It's +1 858-539-8666.",
            "it's plus one eight five eight five three nine eight six six six",
        ),
        ("It's (212) 769-5100.", "it's two one two seven six nine five one zero zero"),
        (
            "Try +44 20 8563 8692",
            "try plus four four two zero eight five six three eight six nine two",
        ),
        ("Dial 555-1234 now", "dial five five five one two three four now"),
        # addresses and postcodes
        ("It's at 1227 Hampshire Street.", "it's at twelve twenty seven hampshire street"),
        (
            "It's at 630 Drake Ave. The rating is 4.2.",
            "it's at six thirty drake avenue the rating is four point two",
        ),
        (
            "at 8339 Church St # 106",
            "at eighty three thirty nine church street number one hundred six",
        ),
        ("to 2500 Hospital Dr # 5D", "to twenty five hundred hospital drive number five d"),
        ("It's at 105 Main Street", "it's at one oh five main street"),
        ("at 2001 Salvio Street", "at twenty oh one salvio street"),
        ("at 7000 Coliseum Way", "at seven thousand coliseum way"),
        (
            "at 43917 Pacific Commons Boulevard",
            "at forty three nine seventeen pacific commons boulevard",
        ),
        ("at 15 East 14th Street", "at fifteen east fourteenth street"),
        ("1 Columbia Court", "one columbia court"),
        (
            "La Jolla, California 92037, United States",
            "la jolla california nine two zero three seven united states",
        ),
        ("weather for zip code 29978", "weather for zip code two nine nine seven eight"),
        # letters and numbers together
        ("an Audi A8 or the IT2", "an audi a eight or the it two"),
        ("a 3D show or a 3d movie", "a three d show or a three d movie"),
        ("Is it PG-13 or PG 13?", "is it pg thirteen or pg thirteen"),
        ("roll over my 401k", "roll over my four oh one k"),
        ("open 24/7 since 9/11", "open twenty four seven since nine eleven"),
        # abbreviations
        ("Mr. Smith, Mrs. Jones and Dr. Brown", "mister smith missus jones and doctor brown"),
        ("Bury St. Edmunds and St Helena", "bury saint edmunds and saint helena"),
        ("Maj. Gen. Edwin A. Walker", "major general edwin a walker"),
        ("Lt. Col. A. G. Folsom, Jr.", "lieutenant colonel a g folsom junior"),
        (
            "the Rev. W. Bailey and the Hon. H. G. Bennet",
            "the reverend w bailey and the honorable h g bennet",
        ),
        (
            "Phillies vs Pirates or Rams vs. Cardinals",
            "phillies versus pirates or rams versus cardinals",
        ),
        (
            "salts, water, etc., and approx. 5 miles",
            "salts water et cetera and approximately five miles",
        ),
        ("Barba & Co. San Jose", "barba and company san jose"),
        ("Mt. Everest and Ms Wilson", "mount everest and miz wilson"),
        ("689 East Remington Drive Ste A", "six eighty nine east remington drive suite a"),
        # punctuation, quotes, unicode (as before)
        ('"A chain fixed to staples, at his back;"', "a chain fixed to staples at his back"),
        ("The U.S. Army & J. Smith", "the u s army and j smith"),
        ("Don't stop; it's John's.", "don't stop it's john's"),
        ("'Tis the season,' she said.", "tis the season she said"),
        ("A well-known (sort of) writer!", "a well known sort of writer"),
        ("“Café” — naïve…", "cafe naive"),
        ("  Many    spaces\t", "many spaces"),
        ("and/or", "and or"),
        # dataset markup
        ("How many [currency_source : dollars] are in a pound?", "how many dollars are in a pound"),
        ("A movie tonight. [A]OK. In what city?", "a movie tonight ok in what city"),
        ("Hollywood Wax Museum(r) and Coca-Cola™", "hollywood wax museum and coca cola"),
        ("Thanks.The bus leaves", "thanks the bus leaves"),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("Page a4 is gone.", "digits left"),
        ("flight dl123 landed", "digits left"),
        ("Elm St. is closed.", "St not before a name (street or saint?)"),
        ("", "no words"),
        ("...!", "no words"),
        ("Ελληνικά", "characters outside a-z and apostrophe"),
        ("mail me at a@b.com", "characters outside a-z and apostrophe"),
        ("1th place", "ordinal with a wrong suffix"),
        ("the 2st time", "ordinal with a wrong suffix"),
        ("007 licence", "leading zero"),
        ("on March 05", "leading zero"),
        ("on 12/03/2019", "a date or fraction (slash)"),
        ("spread 1/4 lb", "a date or fraction (slash)"),
        ("at 0:30 am", "hour not 1-12 before a.m./p.m."),
        ("at 13 pm", "hour not 1-12 before a.m./p.m."),
        ("at 0:45", "hour not 1-23"),
        ("at 7:75", "minute over 59"),
        ("It cost $4.5", "money with cents not in two digits"),
        ("$27-$32 million", "money range with a scale (whose scale?)"),
        ("account 20905432", "over 6 digits (an identifier?)"),
        ("the 747s", "plural of a number that is no decade"),
        ("100-15 Ditmars Boulevard", "hyphenated number before a name (Queens address?)"),
        ("It's 5$ only", "characters outside a-z and apostrophe"),
    ],
)  # fmt: skip
def test_what_cannot_be_spelled_is_dropped_with_a_reason(raw: str, reason: str) -> None:
    assert normalize_text(raw) is None
    assert speech_text(raw) is None and caption_text(raw) is None and spell(raw) is None
    dropped = spell_or_reason(raw)
    assert isinstance(dropped, str) and dropped.split(": ", 1)[0] == reason


def test_speech_text_keeps_pauses_and_same_words() -> None:
    raw = "Mr. Smith, who was born in 1863, said: stop!"
    spoken = speech_text(raw)
    assert spoken == "mister smith, who was born in eighteen sixty three, said, stop!"
    assert normalize_text(raw) == "mister smith who was born in eighteen sixty three said stop"


@pytest.mark.parametrize(
    ("raw", "speech"),
    [
        ("Call 415-924-1192.", "call four one five, nine two four, one one nine two."),
        ("at 7 p.m. tomorrow", "at seven p m tomorrow"),
        ("at 7 p.m. Is that ok?", "at seven p m. is that ok?"),
        ("at 7 pm, ok", "at seven p m, ok"),
        (
            "It's at 630 Drake Ave. The rating is 4.2.",
            "it's at six thirty drake avenue. the rating is four point two.",
        ),
    ],
)
def test_speech_text_pauses(raw: str, speech: str) -> None:
    assert speech_text(raw) == speech


@pytest.mark.parametrize(
    ("raw", "caption"),
    [
        ("It's $42.50 at 7pm.", "It's forty two dollars fifty cents at seven p.m."),
        ('"A chain fixed to staples, at his back;"', "A chain fixed to staples, at his back;"),
        ("'Tis the season,' she said.", "'Tis the season,' she said."),
        ("“Café” — naïve…", "Cafe - naive..."),
        ('Mr. Smith (the elder) said "hi"!', "Mr. Smith the elder said hi!"),
        ("i would like 2 coffees. 1 latte, please", "I would like two coffees. One latte, please"),
        ("5 people at 7 p.m. 2 more?", "Five people at seven p.m. two more?"),
        ("good.The 2nd one", "Good. The second one"),
        (
            "Meet at 8339 Church St. The rest",
            "Meet at eighty three thirty nine Church Street. The rest",
        ),
        ("Tom & Jerry: 50% off", "Tom and Jerry: fifty percent off"),
        ("It's PG-13 in 3D", "It's PG-thirteen in three D"),
    ],
)
def test_caption_text(raw: str, caption: str) -> None:
    assert caption_text(raw) == caption
    assert normalize_text(caption) == normalize_text(raw)


def test_spell_gives_all_three_forms() -> None:
    assert spell("At 7:05 pm, Dr. Who left.") == Spelled(
        words="at seven oh five p m doctor who left",
        speech="at seven oh five p m, doctor who left.",
        caption="At seven oh five p.m., Dr. Who left.",
    )
    assert spell("1th place") is None


@pytest.mark.parametrize("source", TEXT_SOURCES, ids=lambda s: s.file_name)
def test_caption_round_trips_on_a_sample_of_every_file(source: TextSource) -> None:
    """normalize_text(caption_text(x)) == normalize_text(x), and the caption spells to itself,
    on every 40th line (at most 1,000) of each shipped file; most lines must survive."""
    path = source_path(source)
    lines = list(islice(islice(read_text_lines(path), 0, None, 40), 1000))
    kept = 0
    for line in lines:
        spelled = spell(line)
        if spelled is None:
            continue
        kept += 1
        assert spelled.caption[:1] == spelled.caption[:1].upper(), line
        assert normalize_text(spelled.caption) == spelled.words, line
        assert spell(spelled.caption) == spelled, line
        assert " ".join(w.strip(".,?!") for w in spelled.speech.split()) == spelled.words, line
    assert kept >= 0.95 * len(lines)


def test_read_text_lines_plain_and_gzip(tmp_path: Path) -> None:
    plain = tmp_path / "a.txt"
    plain.write_bytes("Café one\r\ntwo\n\nthree".encode())
    packed = tmp_path / "a.txt.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(read_text_lines(plain)) == ["Café one", "two", "", "three"]
    assert list(read_text_lines(packed)) == ["Café one", "two", "", "three"]
    broken = tmp_path / "b.txt.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(S2TError, match=r"b\.txt\.gz: expected UTF-8 text \(gzip if named \.gz\)"):
        list(read_text_lines(broken))
    latin = tmp_path / "c.txt"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(S2TError, match=r"c\.txt: expected UTF-8 text"):
        list(read_text_lines(latin))
