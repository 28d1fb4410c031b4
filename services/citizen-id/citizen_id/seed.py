"""Fill the mock population database with deterministic synthetic citizens.

``python -m citizen_id.seed [--count 10000]``. The same count always yields the same people (fixed
random seed, and a smaller count is a prefix of a larger one); a re-run inserts nothing new. A few fixed
demo citizens, used by the other services' demos and tests, are always inserted as well.

The population is generated household by household (head, spouse, children born when the mother was 20-40 and
carrying the father's family name, now and then a ward), so that most minors have a parent in the registry who may
act for them. Beside it: written authorizations between citizens (the demo one from Lê Minh Cường to Trần Thị
Bình), and a mock business registry of up to 3,000 companies (plus the demo "Công ty TNHH Một Cửa Số" whose legal
representative is Nguyễn Văn An) with business authorizations.

Speed (1,000,000 citizens in well under a minute): rows are generated as tuples from precomputed tables (names with
their e-mail slugs, wards with their address suffix, day numbers of each year), the subject HMAC reuses one keyed
object, generation runs in a worker thread while the previous chunk is COPYed, and into an empty registry the rows
are COPYed straight into the tables with their indexes and foreign keys dropped, rebuilt once at the end. A re-run
reads ``seed_state`` and stops at once when the registry already holds ``count`` citizens.

Names follow Vietnamese order (family + middle + given) from our own lists, with surnames weighted
roughly like the real distribution, because Faker's ``vi_VN`` locale does neither. Ids are consistent
with sex, birth year and the (legacy) province where the birth was registered; permanent addresses
use the current (2025) provinces and wards from the ``vietnam-provinces`` package.
"""

import argparse
import asyncio
import bisect
import hashlib
import hmac
import itertools
import random
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
from vietnam_provinces import Province, VietNamDivisionType, Ward

from motcua_common import migrate

from . import repository
from .domain import LEGACY_PROVINCES, Sex, format_address, parse_personal_id, province_label
from .settings import Settings
from .subjects import citizen_subject

MIGRATIONS = Path(__file__).parent / "migrations"
RANDOM_SEED = 20250701
FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR = 1940, 2024
ADULT_BORN_BY = 2008
CONTACT_SHARE = 0.30
STAY_IN_BIRTH_PROVINCE = 0.80

# (name, weight in per mille), roughly the shares quoted for Vietnamese surnames.
# fmt: off
FAMILY_NAMES: list[tuple[str, float]] = [
    ("Nguyễn", 380), ("Trần", 110), ("Lê", 95), ("Phạm", 70), ("Hoàng", 51), ("Phan", 45), ("Vũ", 39),
    ("Đặng", 21), ("Bùi", 20), ("Đỗ", 14), ("Hồ", 13), ("Ngô", 13), ("Dương", 10), ("Lý", 5), ("Đinh", 8),
    ("Trương", 8), ("Lâm", 6), ("Mai", 6), ("Đào", 6), ("Cao", 5), ("Hà", 5), ("Trịnh", 5), ("Đoàn", 5),
    ("Lương", 4), ("Tạ", 3), ("Chu", 3), ("Lưu", 3), ("Tô", 3), ("Kiều", 2), ("Quách", 2), ("Thái", 2),
    ("Vương", 2), ("Phùng", 2), ("Triệu", 2), ("Tăng", 1), ("La", 1),
]
# fmt: on
# Hoàng and Vũ are mostly written Huỳnh and Võ in the centre and south.
SOUTHERN_VARIANTS = {"Hoàng": "Huỳnh", "Vũ": "Võ"}
SOUTHERN_FROM_CODE = "048"

TRADITIONAL_MIDDLE = {"male": "Văn", "female": "Thị"}
MIDDLE_NAMES: dict[Sex, list[str]] = {
    "male": """Văn Hữu Đức Minh Quốc Công Thành Xuân Quang Trọng Đình Anh Gia Tuấn Thanh Ngọc Bảo Hoàng Mạnh
               Duy Khánh Tiến""".split(),
    "female": """Thị Ngọc Thu Thanh Minh Phương Bảo Kim Mỹ Hồng Thùy Khánh Diệu Hoài Lan Quỳnh Thảo Hải Bích
                 Tuyết""".split(),
}
GIVEN_NAMES: dict[Sex, list[str]] = {
    "male": """An Bình Cường Dũng Duy Đạt Đức Giang Hải Hiếu Hoàng Hùng Huy Hưng Khánh Khoa Kiên Lâm Long Mạnh
               Minh Nam Nghĩa Phong Phúc Quân Quang Sơn Tài Thắng Thành Thịnh Toàn Trung Tuấn Tùng Việt Vinh
               Bảo Khang Phát Lộc Hậu Tâm Trí Hiển Nhân Tú""".split(),
    "female": """Anh Ánh Bích Chi Diệp Dung Duyên Giang Hà Hạnh Hằng Hiền Hoa Hồng Hương Huyền Lan Linh Loan
                 Mai My Nga Ngân Ngọc Nhung Oanh Phương Quỳnh Thảo Thu Thủy Trang Trâm Uyên Vân Vy Yến
                 Tâm Nhi Hân Thư Xuân""".split(),
}
STREETS = [
    s.strip()
    for s in """Lê Lợi; Trần Hưng Đạo; Nguyễn Huệ; Hai Bà Trưng; Lý Thường Kiệt; Quang Trung; Nguyễn Trãi;
    Điện Biên Phủ; Hùng Vương; Phan Đình Phùng; Lê Duẩn; Võ Thị Sáu; Nguyễn Thị Minh Khai; Bà Triệu; Trần Phú;
    Lạc Long Quân; Nguyễn Du; Lê Thánh Tông; Phan Chu Trinh; Ngô Quyền; Nguyễn Văn Cừ; Tôn Đức Thắng;
    Cách Mạng Tháng Tám; Nguyễn Chí Thanh; Trường Chinh; Lê Hồng Phong; Hoàng Diệu; Yết Kiêu; Pasteur;
    Độc Lập; Thống Nhất; 30 Tháng 4""".split(";")
]
# Current provinces of the Mekong delta and the south-east, where a rural hamlet is an "ấp".
SOUTHERN_PROVINCES = {75, 79, 80, 82, 86, 91, 92, 96}
COMPANY_KINDS = ("Công ty TNHH", "Công ty Cổ phần", "Công ty TNHH MTV", "Doanh nghiệp tư nhân")
COMPANY_TRADES = (
    "Thương mại", "Xây dựng", "Dịch vụ", "Công nghệ", "Vận tải", "Thực phẩm", "Du lịch", "May mặc",
    "Nông sản", "Cơ khí", "Điện tử", "Tư vấn", "In ấn", "Dược phẩm", "Nội thất", "Giáo dục",
)  # fmt: skip
COMPANY_BRANDS = (
    "An Phát", "Bình Minh", "Hòa Bình", "Thành Công", "Sao Việt", "Phương Nam", "Đông Á", "Hồng Hà",
    "Trường Sơn", "Kim Long", "Phú Quý", "Tân Tiến", "Hưng Thịnh", "Việt Tiến", "Ánh Dương", "Thăng Long",
    "Cửu Long", "Hải Âu", "Sông Hàn", "Mekong", "Lam Sơn", "Bạch Đằng", "Hoàng Gia", "Đại Việt",
)  # fmt: skip
AUTHORIZATION_SCOPE = "Thay mặt thực hiện thủ tục hành chính, nộp hồ sơ và nhận kết quả"
BUSINESS_SCOPE = "Thay mặt doanh nghiệp thực hiện thủ tục hành chính"
MAX_COMPANIES = 3_000
HOUSEHOLD_BASE = 1_000  # synthetic household ids start here; below are the demo households
AUTHORIZATION_BASE = 1_000
CHUNK = 50_000  # citizens per COPY batch

# The demo mandates every environment has (see /work/plan/identity.md).
DEMO_HOUSEHOLDS: list[tuple[int, list[tuple[str, str]]]] = [
    (1, [("001090001234", "head"), ("001222001235", "child")]),
    (2, [("079195005678", "head")]),
    (3, [("048200001111", "head")]),
    (4, [("092301002222", "head")]),
    (5, [("036045000999", "head")]),
]
DEMO_AUTHORIZATION = (
    1, "048200001111", "079195005678", AUTHORIZATION_SCOPE, date(2026, 1, 1), date(2027, 12, 31), "UQ-2026-000001",
)  # fmt: skip
DEMO_COMPANY_TAX_CODE = "0101234567"


@dataclass(frozen=True)
class Citizen:
    """One row of ``citizens``, fields in ``repository.CITIZEN_COLUMNS`` order (``subject`` is added by the seed)."""

    personal_id: str
    full_name: str
    family_name: str
    middle_name: str
    given_name: str
    date_of_birth: date
    sex: Sex
    province_code: str
    province_name: str
    ward_code: str
    ward_name: str
    street: str
    permanent_address: str
    email: str | None = None
    phone: str | None = None
    status: str = "active"


@cache
def _geography() -> dict[int, tuple[Province, list[Ward]]]:
    wards: dict[int, list[Ward]] = {}
    for ward in Ward.iter_all():
        wards.setdefault(int(ward.province_code), []).append(ward)
    for items in wards.values():
        items.sort(key=lambda w: int(w.code))  # the package's order is not part of its contract
    return {int(p.code): (p, wards[int(p.code)]) for p in sorted(Province.iter_all(), key=lambda p: int(p.code))}


def _resident(
    personal_id: str,
    family: str,
    middle: str,
    given: str,
    born: date,
    sex: Sex,
    province: int,
    ward: Ward,
    street: str,
    **extra: Any,
) -> Citizen:
    prov = _geography()[province][0]
    return Citizen(
        personal_id=personal_id,
        full_name=" ".join(p for p in (family, middle, given) if p),
        family_name=family,
        middle_name=middle,
        given_name=given,
        date_of_birth=born,
        sex=sex,
        province_code=f"{int(prov.code):02d}",
        province_name=prov.name,
        ward_code=f"{int(ward.code):05d}",
        ward_name=ward.name,
        street=street,
        permanent_address=format_address(street, ward.name, prov.name),
        **extra,
    )


def _ward_named(province: int, name: str) -> Ward:
    return next(w for w in _geography()[province][1] if w.name == name)


def fixed_citizens() -> list[Citizen]:
    """The demo citizens every environment has, with ids the other services' demos and tests rely on."""
    hoan_kiem = _ward_named(1, "Phường Hoàn Kiếm")
    # fmt: off
    return [
        _resident("001090001234", "Nguyễn", "Văn", "An", date(1990, 5, 15), "male", 1,
                  hoan_kiem, "Số 12, đường Lê Lợi",
                  email="an.nguyen@example.vn", phone="0912345678"),
        # An's son, a minor in An's household: An may act for him.
        _resident("001222001235", "Nguyễn", "Minh", "Khôi", date(2022, 3, 15), "male", 1,
                  hoan_kiem, "Số 12, đường Lê Lợi"),
        _resident("079195005678", "Trần", "Thị", "Bình", date(1995, 8, 20), "female", 79,
                  _ward_named(79, "Phường Sài Gòn"), "Số 45, đường Nguyễn Huệ", email="binh.tran@example.vn"),
        _resident("048200001111", "Lê", "Minh", "Cường", date(2000, 1, 10), "male", 48,
                  _ward_named(48, "Phường Hải Châu"), "Số 7, đường Bạch Đằng", email="cuong.le@example.vn"),
        _resident("092301002222", "Phạm", "Thu", "Dung", date(2001, 11, 3), "female", 92,
                  _ward_named(92, "Phường Ninh Kiều"), "Số 88, đường Hòa Bình"),
        # Deceased: a prefill for him must be refused (409 citizen-not-active).
        _resident("036045000999", "Đỗ", "Văn", "Hải", date(1945, 9, 2), "male", 37,
                  _ward_named(37, "Phường Nam Định"), "Số 3, đường Trần Hưng Đạo", status="deceased"),
    ]
    # fmt: on


def fixed_company() -> tuple[str, str, str, str]:
    """The demo company, An its legal representative: (tax_code, name, address, legal_representative)."""
    address = format_address("Số 1, đường Tràng Tiền", "Phường Hoàn Kiếm", _geography()[1][0].name)
    return (DEMO_COMPANY_TAX_CODE, "Công ty TNHH Một Cửa Số", address, "001090001234")


def check_consistent(c: Citizen) -> None:
    """The id must encode the citizen's sex and birth year (and be well-formed at all)."""
    parsed = parse_personal_id(c.personal_id)
    if (parsed.sex, parsed.birth_year) != (c.sex, c.date_of_birth.year):
        raise ValueError(
            f"{c.personal_id} encodes {parsed.sex} born {parsed.birth_year}, "
            f"but {c.full_name} is {c.sex} born {c.date_of_birth.year}"
        )


def ascii_slug(text: str) -> str:
    """E-mail local parts stay ASCII: ``"Nguyễn Đức"`` -> ``"nguyenduc"``."""
    text = text.replace("Đ", "D").replace("đ", "d")
    stripped = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return "".join(c for c in stripped.lower() if c.isascii() and c.isalnum())


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32_PAIRS = [_B32[i >> 5] + _B32[i & 31] for i in range(1024)]  # 10 bits -> 2 base32 characters


def subject_function(secret: str) -> Callable[[str], str]:
    """``citizen_subject`` with the key bound, computed with a copy of one keyed ``hmac`` object and a table-driven
    base32 of the 160-bit prefix (``base64.b32encode`` is pure Python and was most of the seed's time).
    Checked against ``citizen_subject`` before use."""
    keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)  # copied per id: the key is processed once
    copy = keyed.copy
    from_bytes = int.from_bytes
    t = _B32_PAIRS

    def subject(personal_id: str) -> str:
        mac = copy()
        mac.update(personal_id.encode())
        v = from_bytes(mac.digest()[:20], "big")
        return (
            f"vn1.{t[v >> 150]}{t[(v >> 140) & 1023]}{t[(v >> 130) & 1023]}{t[(v >> 120) & 1023]}"
            f"{t[(v >> 110) & 1023]}{t[(v >> 100) & 1023]}{t[(v >> 90) & 1023]}{t[(v >> 80) & 1023]}"
            f"{t[(v >> 70) & 1023]}{t[(v >> 60) & 1023]}{t[(v >> 50) & 1023]}{t[(v >> 40) & 1023]}"
            f"{t[(v >> 30) & 1023]}{t[(v >> 20) & 1023]}{t[(v >> 10) & 1023]}{t[v & 1023]}"
        )

    for probe in ("001090001234", "079195005678", "000000000000", "999999999999"):
        if subject(probe) != citizen_subject(probe, secret):
            raise AssertionError("the seed's subject function disagrees with citizen_subject")
    return subject


@dataclass
class Chunk:
    """Rows of one COPY batch, each list in its table's column order."""

    citizens: list[tuple] = field(default_factory=list)
    households: list[tuple] = field(default_factory=list)
    members: list[tuple] = field(default_factory=list)


@dataclass
class Generated:
    """What the stream produced besides the rows: the first adult of every block of 10 citizens (the pool of
    company representatives and authorization parties), found while generating."""

    adult_by_block: dict[int, str] = field(default_factory=dict)


class _Tables:
    """Everything the generator looks up, precomputed once: cumulative weights, wards with their address
    suffix, names with their e-mail slugs, day numbers of each year."""

    def __init__(self) -> None:
        geo = _geography()
        self.legacy_codes = sorted(LEGACY_PROVINCES)
        self.legacy_cum = list(itertools.accumulate(4 if c in ("001", "079") else 1 for c in self.legacy_codes))
        self.legacy_current = {c: LEGACY_PROVINCES[c].current_code for c in self.legacy_codes}
        self.legacy_of_current: dict[int, list[str]] = {}
        for c in self.legacy_codes:
            self.legacy_of_current.setdefault(LEGACY_PROVINCES[c].current_code, []).append(c)
        self.provinces = list(geo)
        self.residence_cum = list(itertools.accumulate(len(geo[p][1]) for p in self.provinces))
        # per province: (province code "01", name, [(ward code, ward name, ", ward, province", is_urban)])
        self.wards: dict[int, tuple[str, str, list[tuple[str, str, str, bool]]]] = {}
        for p, (prov, wards) in geo.items():
            label = province_label(prov.name)
            self.wards[p] = (
                f"{p:02d}",
                prov.name,
                [
                    (
                        f"{int(w.code):05d}",
                        w.name,
                        f", {w.name}, {label}",
                        w.division_type == VietNamDivisionType.PHUONG,
                    )
                    for w in wards
                ],
            )
        self.family = [n for n, _ in FAMILY_NAMES]
        self.family_cum = list(itertools.accumulate(w for _, w in FAMILY_NAMES))
        self.southern_family = [SOUTHERN_VARIANTS.get(n, n) for n in self.family]
        self.middle = {0: MIDDLE_NAMES["male"], 1: MIDDLE_NAMES["female"]}
        self.given = {0: GIVEN_NAMES["male"], 1: GIVEN_NAMES["female"]}
        self.traditional = {0: TRADITIONAL_MIDDLE["male"], 1: TRADITIONAL_MIDDLE["female"]}
        names = set(self.family) | set(self.southern_family) | set(GIVEN_NAMES["male"]) | set(GIVEN_NAMES["female"])
        self.slug = {n: ascii_slug(n) for n in names}
        self.year_start = {y: date(y, 1, 1).toordinal() for y in range(1900, 2101)}
        self.year_days = {y: date(y + 1, 1, 1).toordinal() - date(y, 1, 1).toordinal() for y in range(1900, 2100)}


def generate(
    count: int, subject: Callable[[str], str], *, seed: int = RANDOM_SEED, found: Generated | None = None
) -> Iterator[Chunk]:
    """The synthetic population, household by household, in chunks of about :data:`CHUNK` citizens.

    Deterministic for ``seed``, and a smaller count is a prefix of a larger one (the stream is cut after
    ``count`` citizens, possibly inside a household). Each household shares one address; children carry their
    father's family name, are born when their mother was 20-40 and registered in a legacy province of the
    household's current province; about 3 % of families with children also raise a ward (a minor of another
    family). Ids encode sex, birth year and a legacy province, and never equal a fixed demo id.
    """
    t = _Tables()
    rng = random.Random(seed)
    r = rng.random
    bisect_ = bisect.bisect
    fromordinal = date.fromordinal
    seen = {c.personal_id for c in fixed_citizens()}
    legacy_codes, legacy_cum, legacy_total = t.legacy_codes, t.legacy_cum, t.legacy_cum[-1]
    family, southern, family_cum, family_total = t.family, t.southern_family, t.family_cum, t.family_cum[-1]
    provinces, residence_cum, residence_total = t.provinces, t.residence_cum, t.residence_cum[-1]
    year_start, year_days, slug = t.year_start, t.year_days, t.slug
    streets, n_streets = STREETS, len(STREETS)
    adult_by_block = (found or Generated()).adult_by_block
    chunk = Chunk()
    n = 0  # citizens emitted
    hh = 0

    def person(sex: int, year: int, code: str, fam: str, address: tuple) -> str | None:
        nonlocal n
        if n >= count:
            return None
        middles, givens = t.middle[sex], t.given[sex]
        middle = t.traditional[sex] if year < 1980 and r() < 0.6 else middles[int(r() * len(middles))]
        given = givens[int(r() * len(givens))]
        while given == middle:
            given = givens[int(r() * len(givens))]
        born = fromordinal(year_start[year] + int(r() * year_days[year]))
        g = 2 * ((year - 1900) // 100) + sex
        pid = f"{code}{g}{year % 100:02d}{int(r() * 1_000_000):06d}"
        while pid in seen:
            pid = f"{code}{g}{year % 100:02d}{int(r() * 1_000_000):06d}"
        seen.add(pid)
        n += 1
        email = phone = None
        if year <= ADULT_BORN_BY:
            block = (n - 1) // 10
            if block not in adult_by_block:
                adult_by_block[block] = pid
            if r() < CONTACT_SHARE:
                email = f"{slug[given]}.{slug[fam]}{n}@example.vn"
                phone = f"09{int(r() * 100_000_000):08d}"
        prov_code, prov_name, ward_code, ward_name, street, address_line = address
        chunk.citizens.append(
            (
                pid, f"{fam} {middle} {given}", fam, middle, given, born, "male" if sex == 0 else "female",
                prov_code, prov_name, ward_code, ward_name, street, address_line, email, phone, "active",
                subject(pid),
            )
        )  # fmt: skip
        return pid

    def born_code() -> str:
        return legacy_codes[bisect_(legacy_cum, r() * legacy_total)]

    def family_name(code: str) -> str:
        i = bisect_(family_cum, r() * family_total)
        return southern[i] if code >= SOUTHERN_FROM_CODE and r() < 0.9 else family[i]

    while n < count:
        hh += 1
        household_id = HOUSEHOLD_BASE + hh
        code = born_code()
        province = (
            t.legacy_current[code]
            if r() < STAY_IN_BIRTH_PROVINCE
            else provinces[bisect_(residence_cum, r() * residence_total)]
        )
        prov_code, prov_name, wards = t.wards[province]
        ward_code, ward_name, suffix, urban = wards[int(r() * len(wards))]
        if urban:
            street = f"Số {1 + int(r() * 350)}, đường {streets[int(r() * n_streets)]}"
        else:
            street = f"{'Ấp' if province in SOUTHERN_PROVINCES else 'Thôn'} {1 + int(r() * 15)}"
        address = (prov_code, prov_name, ward_code, ward_name, street, street + suffix)
        local_codes = t.legacy_of_current[province]
        members = chunk.members
        kind = r()
        if kind < 0.22:  # one person living alone
            head_sex, head_year = int(r() < 0.5), FIRST_BIRTH_YEAR + int(r() * (2007 - FIRST_BIRTH_YEAR))
        elif kind < 0.32:  # a single parent, mostly a mother
            head_sex, head_year = int(r() < 0.75), 1950 + int(r() * 51)
        else:  # a couple, the husband mostly recorded as head
            head_sex, head_year = int(r() < 0.15), 1945 + int(r() * 56)
        head_family = family_name(code)
        head = person(head_sex, head_year, code, head_family, address)
        if head is None:
            break
        chunk.households.append((household_id, ward_code, address[5]))
        members.append((household_id, head, "head", chunk.citizens[-1][5]))
        father_family = head_family if head_sex == 0 else None
        mother_year = head_year if head_sex == 1 else None
        if kind >= 0.32:
            spouse_sex = 1 - head_sex
            spouse_year = min(
                2006, max(FIRST_BIRTH_YEAR, head_year + (int(r() * 9) - 1 if head_sex == 0 else -int(r() * 9) + 1))
            )
            spouse_code = born_code()
            spouse_family = family_name(spouse_code)
            spouse = person(spouse_sex, spouse_year, spouse_code, spouse_family, address)
            if spouse is None:
                break
            members.append((household_id, spouse, "spouse", chunk.citizens[-1][5]))
            if spouse_sex == 0:
                father_family = spouse_family
            else:
                mother_year = spouse_year
        if kind >= 0.22:
            k = r()
            kids = (
                (1 if k < 0.5 else 2) if kind < 0.32 else (0 if k < 0.15 else 1 if k < 0.45 else 2 if k < 0.85 else 3)
            )
            first = mother_year + 20 if mother_year else head_year + 22
            last = min(first + 20, LAST_BIRTH_YEAR)
            for _ in range(kids if first <= last else 0):
                year = first + int(r() * (last - first + 1))
                kid_code = local_codes[int(r() * len(local_codes))]
                kid = person(int(r() < 0.5), year, kid_code, father_family or head_family, address)
                if kid is None:
                    break
                members.append((household_id, kid, "child", chunk.citizens[-1][5]))
            if r() < 0.03 and n < count:  # a ward: a minor of another family raised here
                year = 2009 + int(r() * (LAST_BIRTH_YEAR - 2008))
                ward_code_ = local_codes[int(r() * len(local_codes))]
                ward_pid = person(int(r() < 0.5), year, ward_code_, family_name(ward_code_), address)
                if ward_pid is not None:
                    members.append((household_id, ward_pid, "ward", chunk.citizens[-1][5]))
        if len(chunk.citizens) >= CHUNK:
            yield chunk
            chunk = Chunk()
    if chunk.citizens:
        yield chunk


def generate_citizens(count: int, *, seed: int = RANDOM_SEED, secret: str = "dev-subject-secret") -> list[tuple]:
    """All ``count`` synthetic citizen rows (``repository.CITIZEN_COLUMNS`` order) in memory, for tests."""
    return [row for chunk in generate(count, subject_function(secret), seed=seed) for row in chunk.citizens]


def companies_and_mandates(
    count: int, adult_by_block: dict[int, str], *, seed: int = RANDOM_SEED
) -> tuple[list[Any], list[Any], list[Any]]:
    """The mock business registry, business authorizations and written authorizations between synthetic
    citizens, derived from the citizens of the first ``count`` (so again a prefix of a larger run)."""
    t = _Tables()
    companies: list[tuple] = [fixed_company()]
    business: list[tuple] = []
    authorizations: list[tuple] = [DEMO_AUTHORIZATION]
    n_companies = min(MAX_COMPANIES, count // 10)
    base = date(2024, 1, 1).toordinal()
    for i in range(n_companies):
        rep = adult_by_block.get(i)
        if rep is None:
            continue
        rng = random.Random(seed * 7919 + i)
        r = rng.random
        province = t.provinces[bisect.bisect(t.residence_cum, r() * t.residence_cum[-1])]
        prov_code, _, wards = t.wards[province]
        _, _, suffix, _ = wards[int(r() * len(wards))]
        street = f"Số {1 + int(r() * 500)}, đường {STREETS[int(r() * len(STREETS))]}"
        name = (
            f"{COMPANY_KINDS[int(r() * len(COMPANY_KINDS))]} {COMPANY_TRADES[int(r() * len(COMPANY_TRADES))]}"
            f" {COMPANY_BRANDS[int(r() * len(COMPANY_BRANDS))]}"
        )
        tax_code = f"{prov_code}{10_000_000 + i:08d}"
        companies.append((tax_code, name, street + suffix, rep))
        grantee = adult_by_block.get(n_companies + i)
        if i % 3 == 0 and grantee is not None and grantee != rep:
            start = date.fromordinal(base + int(r() * 1000))
            end = date.fromordinal(start.toordinal() + 180 + int(r() * 900))
            business.append(
                (AUTHORIZATION_BASE + i, tax_code, grantee, BUSINESS_SCOPE, start, end, f"UQDN-{start.year}-{i:07d}")
            )
    blocks = count // 10
    for k in range(count // 500):  # one written authorization per 500 citizens, some expired, some not yet valid
        grantor, grantee = adult_by_block.get(blocks - 1 - 2 * k), adult_by_block.get(blocks - 2 - 2 * k)
        if grantor is None or grantee is None or grantor == grantee:
            continue
        rng = random.Random(seed * 104729 + k)
        start = date.fromordinal(base + int(rng.random() * 1000))
        end = date.fromordinal(start.toordinal() + 90 + int(rng.random() * 900))
        authorizations.append(
            (AUTHORIZATION_BASE + k, grantor, grantee, AUTHORIZATION_SCOPE, start, end, f"UQ-{start.year}-{k:07d}")
        )
    return companies, business, authorizations


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(b"citizen-id seed\0" + secret.encode()).hexdigest()


async def seed(dsn: str, count: int = 10_000, *, verbose: bool = True, subject_secret: str | None = None) -> int:
    """Migrate the database, then load the fixed demo citizens, households, authorizations and company, and
    ``count`` synthetic citizens with their households, companies and mandates. Returns how many citizens
    were new (0 on a re-run, which stops after one query when the registry already holds ``count``)."""
    say = print if verbose else (lambda *_a, **_k: None)
    started = time.perf_counter()
    secret = subject_secret if subject_secret is not None else Settings().subject_secret
    subject = subject_function(secret)
    await migrate(dsn, MIGRATIONS)
    conn = await asyncpg.connect(dsn)
    try:
        state = await repository.seed_state(conn)
        if state is not None and state["secret_hash"] != _secret_hash(secret):
            raise RuntimeError(
                "citizen-id seed: the registry was seeded with another subject secret; subjects would not match "
                "the tokens. Recreate the database or seed with the secret used before."
            )
        if state is not None and state["random_seed"] == RANDOM_SEED and state["count"] >= count:
            say(f"citizen-id seed: the registry already holds the {state['count']:,} synthetic citizens; nothing to do")
            return 0
        done = state["count"] if state is not None and state["random_seed"] == RANDOM_SEED else 0
        fixed = fixed_citizens()
        for c in fixed:
            check_consistent(c)
        fresh = not await repository.has_citizens(conn)
        if fresh:
            done = 0
        inserted = 0
        async with conn.transaction():
            if fresh:
                await repository.drop_bulk_indexes(conn)
            loader = repository.copy_rows if fresh else repository.insert_rows
            if state is None or fresh:
                inserted += await loader(conn, "citizens", [(*vars(c).values(), subject(c.personal_id)) for c in fixed])
                by_id = {c.personal_id: c for c in fixed}
                await loader(
                    conn,
                    "households",
                    [(hid, by_id[m[0][0]].ward_code, by_id[m[0][0]].permanent_address) for hid, m in DEMO_HOUSEHOLDS],
                )
                dob = {c.personal_id: c.date_of_birth for c in fixed}
                await loader(
                    conn,
                    "household_members",
                    [(hid, pid, rel, dob[pid]) for hid, m in DEMO_HOUSEHOLDS for pid, rel in m],
                )
            found = Generated()
            position = 0
            # Generation (Python, this process) overlaps with COPY (the server): the next chunk is generated in a
            # worker thread while the current one is copied.
            loop = asyncio.get_running_loop()
            chunks = generate(count, subject, found=found)
            pending = loop.run_in_executor(None, next, chunks, None)
            while (chunk := await pending) is not None:
                pending = loop.run_in_executor(None, next, chunks, None)
                skip = max(0, min(len(chunk.citizens), done - position))
                position += len(chunk.citizens)
                if skip == len(chunk.citizens):
                    continue
                inserted += await loader(conn, "citizens", chunk.citizens[skip:])
                await loader(conn, "households", chunk.households)
                if skip:
                    new = {row[0] for row in chunk.citizens[skip:]}
                    await loader(conn, "household_members", [m for m in chunk.members if m[1] in new])
                else:
                    await loader(conn, "household_members", chunk.members)
                say(
                    f"citizen-id seed: {position:,} citizens generated, {time.perf_counter() - started:.1f}s",
                    flush=True,
                )
            companies, business, authorizations = companies_and_mandates(count, found.adult_by_block)
            await repository.insert_rows(conn, "companies", companies)
            await repository.insert_rows(conn, "business_authorizations", business)
            await repository.insert_rows(conn, "authorizations", authorizations)
            if fresh:
                loaded = time.perf_counter()
                await repository.create_bulk_indexes(conn)
                say(f"citizen-id seed: indexes built in {time.perf_counter() - loaded:.1f}s", flush=True)
            await repository.backfill_subjects(conn, subject)
            await repository.save_seed_state(conn, RANDOM_SEED, count, _secret_hash(secret))
    finally:
        await conn.close()
    elapsed = time.perf_counter() - started
    say(
        f"citizen-id seed: inserted {inserted:,} new citizens in {elapsed:.2f}s ({inserted / elapsed:,.0f} rows/s)",
        flush=True,
    )
    return inserted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m citizen_id.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="synthetic citizens besides the demo ones")
    parser.add_argument("--dsn", default=None, help="PostgreSQL DSN (default: from CITIZEN_ID_/MOTCUA_ env)")
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count must be >= 0")
    asyncio.run(seed(args.dsn or Settings().dsn, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
