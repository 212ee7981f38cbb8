"""Reference sectors: the 21 sections of the UK Standard Industrial Classification 2007."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sector:
    code: str
    name: str


SECTORS: tuple[Sector, ...] = (
    Sector("A", "Agriculture, forestry and fishing"),
    Sector("B", "Mining and quarrying"),
    Sector("C", "Manufacturing"),
    Sector("D", "Electricity, gas, steam and air conditioning supply"),
    Sector("E", "Water supply; sewerage, waste management and remediation activities"),
    Sector("F", "Construction"),
    Sector("G", "Wholesale and retail trade; repair of motor vehicles and motorcycles"),
    Sector("H", "Transportation and storage"),
    Sector("I", "Accommodation and food service activities"),
    Sector("J", "Information and communication"),
    Sector("K", "Financial and insurance activities"),
    Sector("L", "Real estate activities"),
    Sector("M", "Professional, scientific and technical activities"),
    Sector("N", "Administrative and support service activities"),
    Sector("O", "Public administration and defence; compulsory social security"),
    Sector("P", "Education"),
    Sector("Q", "Human health and social work activities"),
    Sector("R", "Arts, entertainment and recreation"),
    Sector("S", "Other service activities"),
    Sector(
        "T",
        "Activities of households as employers; undifferentiated goods- and "
        "services-producing activities of households for own use",
    ),
    Sector("U", "Activities of extraterritorial organisations and bodies"),
)

SECTORS_BY_CODE: dict[str, Sector] = {sector.code: sector for sector in SECTORS}
