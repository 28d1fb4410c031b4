"""Pure rules of the population registry: the 12-digit personal id number (số định danh cá nhân)
and the fields a consented prefill may disclose. No I/O here.

Personal id layout ``PPP G YY NNNNNN``:
- ``PPP``: province of birth registration, one of the 63 *legacy* (pre-2025) provinces written as
  "0" + the old two-digit statistics code. Ids issued before the 2025 merger keep these codes forever,
  so they are data here, not looked up in the current (34-province) list.
- ``G``: century and sex: 0/1 male/female born 1900-1999, 2/3 in 2000-2099, 4/5 in 2100-2199.
- ``YY``: last two digits of the birth year.
- ``NNNNNN``: random serial. There is no check digit.
"""

from dataclasses import dataclass
from datetime import date
from typing import Literal

Sex = Literal["male", "female"]
SEXES: tuple[Sex, ...] = ("male", "female")


class InvalidPersonalIdError(ValueError):
    """The string is not a well-formed personal id number; the message says which rule it breaks."""


@dataclass(frozen=True)
class LegacyProvince:
    code: str
    name: str
    current_code: int
    """Statistics code of the province (of the 34 since 1 Jul 2025) that absorbed it."""


# The 63 provinces before the 2025 merger (Resolution 202/2025/QH15), and the unit each became part of.
LEGACY_PROVINCES: dict[str, LegacyProvince] = {
    p.code: p
    for p in (
        LegacyProvince("001", "Hà Nội", 1),
        LegacyProvince("002", "Hà Giang", 8),
        LegacyProvince("004", "Cao Bằng", 4),
        LegacyProvince("006", "Bắc Kạn", 19),
        LegacyProvince("008", "Tuyên Quang", 8),
        LegacyProvince("010", "Lào Cai", 15),
        LegacyProvince("011", "Điện Biên", 11),
        LegacyProvince("012", "Lai Châu", 12),
        LegacyProvince("014", "Sơn La", 14),
        LegacyProvince("015", "Yên Bái", 15),
        LegacyProvince("017", "Hòa Bình", 25),
        LegacyProvince("019", "Thái Nguyên", 19),
        LegacyProvince("020", "Lạng Sơn", 20),
        LegacyProvince("022", "Quảng Ninh", 22),
        LegacyProvince("024", "Bắc Giang", 24),
        LegacyProvince("025", "Phú Thọ", 25),
        LegacyProvince("026", "Vĩnh Phúc", 25),
        LegacyProvince("027", "Bắc Ninh", 24),
        LegacyProvince("030", "Hải Dương", 31),
        LegacyProvince("031", "Hải Phòng", 31),
        LegacyProvince("033", "Hưng Yên", 33),
        LegacyProvince("034", "Thái Bình", 33),
        LegacyProvince("035", "Hà Nam", 37),
        LegacyProvince("036", "Nam Định", 37),
        LegacyProvince("037", "Ninh Bình", 37),
        LegacyProvince("038", "Thanh Hóa", 38),
        LegacyProvince("040", "Nghệ An", 40),
        LegacyProvince("042", "Hà Tĩnh", 42),
        LegacyProvince("044", "Quảng Bình", 44),
        LegacyProvince("045", "Quảng Trị", 44),
        LegacyProvince("046", "Thừa Thiên Huế", 46),
        LegacyProvince("048", "Đà Nẵng", 48),
        LegacyProvince("049", "Quảng Nam", 48),
        LegacyProvince("051", "Quảng Ngãi", 51),
        LegacyProvince("052", "Bình Định", 52),
        LegacyProvince("054", "Phú Yên", 66),
        LegacyProvince("056", "Khánh Hòa", 56),
        LegacyProvince("058", "Ninh Thuận", 56),
        LegacyProvince("060", "Bình Thuận", 68),
        LegacyProvince("062", "Kon Tum", 51),
        LegacyProvince("064", "Gia Lai", 52),
        LegacyProvince("066", "Đắk Lắk", 66),
        LegacyProvince("067", "Đắk Nông", 68),
        LegacyProvince("068", "Lâm Đồng", 68),
        LegacyProvince("070", "Bình Phước", 75),
        LegacyProvince("072", "Tây Ninh", 80),
        LegacyProvince("074", "Bình Dương", 79),
        LegacyProvince("075", "Đồng Nai", 75),
        LegacyProvince("077", "Bà Rịa - Vũng Tàu", 79),
        LegacyProvince("079", "Thành phố Hồ Chí Minh", 79),
        LegacyProvince("080", "Long An", 80),
        LegacyProvince("082", "Tiền Giang", 82),
        LegacyProvince("083", "Bến Tre", 86),
        LegacyProvince("084", "Trà Vinh", 86),
        LegacyProvince("086", "Vĩnh Long", 86),
        LegacyProvince("087", "Đồng Tháp", 82),
        LegacyProvince("089", "An Giang", 91),
        LegacyProvince("091", "Kiên Giang", 91),
        LegacyProvince("092", "Cần Thơ", 92),
        LegacyProvince("093", "Hậu Giang", 92),
        LegacyProvince("094", "Sóc Trăng", 92),
        LegacyProvince("095", "Bạc Liêu", 96),
        LegacyProvince("096", "Cà Mau", 96),
    )
}

FIRST_CENTURY, LAST_CENTURY = 1900, 2100
SERIAL_MAX = 999_999


@dataclass(frozen=True)
class ParsedId:
    personal_id: str
    province_code: str
    province_name: str
    sex: Sex
    birth_year: int
    serial: str


def gender_century_digit(sex: Sex, birth_year: int) -> int:
    if sex not in SEXES:
        raise InvalidPersonalIdError(f"sex must be 'male' or 'female', got {sex!r}")
    if not FIRST_CENTURY <= birth_year < LAST_CENTURY + 100:
        raise InvalidPersonalIdError(
            f"birth year {birth_year} is outside {FIRST_CENTURY}-{LAST_CENTURY + 99}, the years an id can encode"
        )
    return 2 * ((birth_year - FIRST_CENTURY) // 100) + (0 if sex == "male" else 1)


def parse_personal_id(value: str) -> ParsedId:
    """Check ``value`` against every structural rule and decode it; raise ``InvalidPersonalIdError`` with
    the first rule it breaks (length, digits only, province code, gender-century digit)."""
    if not isinstance(value, str):
        raise InvalidPersonalIdError(f"a personal id must be a string, got {type(value).__name__}")
    if len(value) != 12:
        raise InvalidPersonalIdError(f"a personal id has exactly 12 digits; got {len(value)} characters")
    if not (value.isascii() and value.isdigit()):
        raise InvalidPersonalIdError("a personal id contains only the digits 0-9")
    province = LEGACY_PROVINCES.get(value[:3])
    if province is None:
        raise InvalidPersonalIdError(
            f"unknown province code {value[:3]!r}: the first three digits must be one of the 63 legacy "
            "province codes (001 Hà Nội … 096 Cà Mau)"
        )
    g = int(value[3])
    if g > 5:
        raise InvalidPersonalIdError(
            f"invalid gender-century digit {g}: the fourth digit must be 0-5 "
            "(0/1 male/female born 1900-1999, 2/3 born 2000-2099, 4/5 born 2100-2199)"
        )
    return ParsedId(
        personal_id=value,
        province_code=province.code,
        province_name=province.name,
        sex="male" if g % 2 == 0 else "female",
        birth_year=FIRST_CENTURY + 100 * (g // 2) + int(value[4:6]),
        serial=value[6:],
    )


def make_personal_id(province_code: str | int, sex: Sex, birth_year: int, serial: int) -> str:
    """Compose a personal id; ``province_code`` is a legacy code, as "001" or as the number 1."""
    code = f"{province_code:03d}" if isinstance(province_code, int) else province_code
    if code not in LEGACY_PROVINCES:
        raise InvalidPersonalIdError(f"unknown legacy province code {province_code!r}")
    if not 0 <= serial <= SERIAL_MAX:
        raise InvalidPersonalIdError(f"serial must be 0-{SERIAL_MAX}, got {serial}")
    return f"{code}{gender_century_digit(sex, birth_year)}{birth_year % 100:02d}{serial:06d}"


PrefillField = Literal["full_name", "date_of_birth", "sex", "permanent_address", "email", "phone"]
PREFILL_FIELDS: tuple[PrefillField, ...] = (
    "full_name",
    "date_of_birth",
    "sex",
    "permanent_address",
    "email",
    "phone",
)
DEFAULT_PREFILL_FIELDS: tuple[PrefillField, ...] = ("full_name", "date_of_birth", "sex", "permanent_address")


def province_label(name: str) -> str:
    """How a current province appears in an address line: cities carry "Thành phố" in their name,
    provinces get the customary lower-case "tỉnh"."""
    return name if name.startswith("Thành phố") else f"tỉnh {name}"


def format_address(street: str, ward_name: str, province_name: str) -> str:
    return f"{street}, {ward_name}, {province_label(province_name)}"


# --- who may read a record (the decision itself is in service.py; these are its pure parts) ---

AGE_OF_MAJORITY = 18
Via = Literal["self", "household", "authorization", "counter", "post", "organisation"]
"""How the caller is entitled to the data: it is their own, a minor child or ward of their household, a written
authorization valid today, a receiving officer serving the person at a counter, or the caller acts for an
organisation (its legal representative or a person it authorized)."""
ORGANISATION_FIELDS: tuple[str, ...] = ("tax_code", "name", "address")


def adult_on(born: date) -> date:
    """The day a person born on ``born`` turns 18 (29 February birthdays count from 1 March)."""
    try:
        return born.replace(year=born.year + AGE_OF_MAJORITY)
    except ValueError:
        return date(born.year + AGE_OF_MAJORITY, 3, 1)


def is_minor(born: date, today: date) -> bool:
    return today < adult_on(born)


def household_mandate(relation: str, born: date, today: date) -> bool:
    """A head of household (or their spouse) acts for a child of the household while the child is a minor,
    and for a ward (a person under their guardianship) whatever the age."""
    return relation == "ward" or (relation == "child" and is_minor(born, today))


def mandate_valid(valid_from: date, valid_to: date, today: date) -> bool:
    return valid_from <= today <= valid_to


def dossier_ref(purpose: str) -> str | None:
    """``dossier:<id or code>`` names a dossier; other purposes (``preview:<procedure>``) do not."""
    kind, sep, ref = purpose.partition(":")
    return ref.strip() or None if sep and kind == "dossier" else None
