"""Fill the mock population database with deterministic synthetic citizens.

``python -m citizen_id.seed [--count 10000]``. The same count always yields the same people (fixed
random seed, and a smaller count is a prefix of a larger one); a re-run inserts nothing new. A few fixed
demo citizens, used by the other services' demos and tests, are always inserted as well.

Names follow Vietnamese order (family + middle + given) from our own lists, with surnames weighted
roughly like the real distribution, because Faker's ``vi_VN`` locale does neither. Ids are consistent
with sex, birth year and the (legacy) province where the birth was registered; permanent addresses
use the current (2025) provinces and wards from the ``vietnam-provinces`` package.
"""

import argparse
import asyncio
import bisect
import itertools
import random
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import asyncpg
from vietnam_provinces import Province, VietNamDivisionType, Ward

from motcua_common import migrate

from . import repository
from .domain import LEGACY_PROVINCES, Sex, format_address, make_personal_id, parse_personal_id
from .settings import Settings

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


@dataclass(frozen=True)
class Citizen:
    """One row of ``citizens``, fields in ``repository.CITIZEN_COLUMNS`` order."""

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
    **extra,
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
    # fmt: off
    return [
        _resident("001090001234", "Nguyễn", "Văn", "An", date(1990, 5, 15), "male", 1,
                  _ward_named(1, "Phường Hoàn Kiếm"), "Số 12, đường Lê Lợi",
                  email="an.nguyen@example.vn", phone="0912345678"),
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


def generate_citizens(count: int, *, seed: int = RANDOM_SEED) -> list[Citizen]:
    """``count`` synthetic citizens, unique ids never equal to a fixed one; deterministic for ``seed``."""
    rng = random.Random(seed)
    geo = _geography()
    family_cum = list(itertools.accumulate(w for _, w in FAMILY_NAMES))
    legacy_codes = sorted(LEGACY_PROVINCES)
    legacy_cum = list(itertools.accumulate(4 if c in ("001", "079") else 1 for c in legacy_codes))
    provinces = list(geo)
    residence_cum = list(itertools.accumulate(len(geo[p][1]) for p in provinces))
    seen = {c.personal_id for c in fixed_citizens()}

    def pick(cum: list[float]) -> int:
        return bisect.bisect(cum, rng.random() * cum[-1])

    citizens: list[Citizen] = []
    for n in range(1, count + 1):
        sex: Sex = "male" if rng.random() < 0.5 else "female"
        year = rng.randint(FIRST_BIRTH_YEAR, LAST_BIRTH_YEAR)
        born = date(year, 1, 1) + timedelta(days=rng.randrange((date(year + 1, 1, 1) - date(year, 1, 1)).days))
        birth_code = legacy_codes[pick(legacy_cum)]
        family = FAMILY_NAMES[pick(family_cum)][0]
        if birth_code >= SOUTHERN_FROM_CODE and rng.random() < 0.9:
            family = SOUTHERN_VARIANTS.get(family, family)
        traditional = year < 1980 and rng.random() < 0.6
        middle = TRADITIONAL_MIDDLE[sex] if traditional else rng.choice(MIDDLE_NAMES[sex])
        given = rng.choice(GIVEN_NAMES[sex])
        while given == middle:
            given = rng.choice(GIVEN_NAMES[sex])
        if rng.random() < STAY_IN_BIRTH_PROVINCE:
            province = LEGACY_PROVINCES[birth_code].current_code
        else:
            province = provinces[pick(residence_cum)]
        ward = rng.choice(geo[province][1])
        if ward.division_type == VietNamDivisionType.PHUONG:
            street = f"Số {rng.randint(1, 350)}, đường {rng.choice(STREETS)}"
        else:
            hamlet = "Ấp" if province in SOUTHERN_PROVINCES else "Thôn"
            street = f"{hamlet} {rng.randint(1, 15)}"
        personal_id = make_personal_id(birth_code, sex, year, rng.randrange(1_000_000))
        while personal_id in seen:
            personal_id = make_personal_id(birth_code, sex, year, rng.randrange(1_000_000))
        seen.add(personal_id)
        contact = {}
        if year <= ADULT_BORN_BY and rng.random() < CONTACT_SHARE:
            contact = {
                "email": f"{ascii_slug(given)}.{ascii_slug(family)}{n}@example.vn",
                "phone": f"09{rng.randrange(100_000_000):08d}",
            }
        citizens.append(_resident(personal_id, family, middle, given, born, sex, province, ward, street, **contact))
    return citizens


async def seed(dsn: str, count: int = 10_000, *, verbose: bool = True) -> int:
    """Migrate the database, then insert the fixed demo citizens and ``count`` synthetic ones.
    Returns how many rows were new (0 on a re-run)."""
    say = print if verbose else (lambda *_a, **_k: None)
    started = time.perf_counter()
    await migrate(dsn, MIGRATIONS)
    fixed = fixed_citizens()
    for c in fixed:
        check_consistent(c)
    citizens = fixed + generate_citizens(count)
    generated = time.perf_counter()
    say(f"citizen-id seed: generated {len(citizens)} citizens in {generated - started:.2f}s", flush=True)
    conn = await asyncpg.connect(dsn)
    try:
        inserted = await repository.insert_citizens(conn, (tuple(vars(c).values()) for c in citizens))
    finally:
        await conn.close()
    say(
        f"citizen-id seed: inserted {inserted} new ({len(citizens) - inserted} already present) "
        f"in {time.perf_counter() - started:.2f}s total",
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
