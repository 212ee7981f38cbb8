"""Reference geography for the demo trust: real ONS GSS codes and names.

Local authorities use their current (2025) codes. ``population`` is an approximate
resident population in thousands (mid-2022 estimates, rounded); it only weights
the synthetic data and is not written to ``areas.csv``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AreaLevel = Literal["COUNTRY", "REGION", "LOCAL_AUTHORITY"]

ENGLAND = "E92000001"
WALES = "W92000004"
SCOTLAND = "S92000003"


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    level: AreaLevel
    parent_code: str = ""  # empty for countries
    population: int = 0  # thousands, local authorities only


def _country(code: str, name: str) -> Area:
    return Area(code, name, "COUNTRY")


def _region(code: str, name: str) -> Area:
    return Area(code, name, "REGION", ENGLAND)


def _la(code: str, name: str, parent: str, population: int) -> Area:
    return Area(code, name, "LOCAL_AUTHORITY", parent, population)


COUNTRIES: tuple[Area, ...] = (
    _country(ENGLAND, "England"),
    _country(WALES, "Wales"),
    _country(SCOTLAND, "Scotland"),
)

NORTH_EAST = "E12000001"
NORTH_WEST = "E12000002"
YORKSHIRE = "E12000003"
EAST_MIDLANDS = "E12000004"
WEST_MIDLANDS = "E12000005"
EAST = "E12000006"
LONDON = "E12000007"
SOUTH_EAST = "E12000008"
SOUTH_WEST = "E12000009"

REGIONS: tuple[Area, ...] = (
    _region(NORTH_EAST, "North East"),
    _region(NORTH_WEST, "North West"),
    _region(YORKSHIRE, "Yorkshire and The Humber"),
    _region(EAST_MIDLANDS, "East Midlands"),
    _region(WEST_MIDLANDS, "West Midlands"),
    _region(EAST, "East of England"),
    _region(LONDON, "London"),
    _region(SOUTH_EAST, "South East"),
    _region(SOUTH_WEST, "South West"),
)

LOCAL_AUTHORITIES: tuple[Area, ...] = (
    # North East
    _la("E06000002", "Middlesbrough", NORTH_EAST, 144),
    _la("E06000047", "County Durham", NORTH_EAST, 523),
    _la("E06000057", "Northumberland", NORTH_EAST, 323),
    _la("E08000021", "Newcastle upon Tyne", NORTH_EAST, 302),
    _la("E08000024", "Sunderland", NORTH_EAST, 275),
    _la("E08000037", "Gateshead", NORTH_EAST, 197),
    # North West
    _la("E06000008", "Blackburn with Darwen", NORTH_WEST, 155),
    _la("E06000009", "Blackpool", NORTH_WEST, 141),
    _la("E08000001", "Bolton", NORTH_WEST, 298),
    _la("E08000003", "Manchester", NORTH_WEST, 568),
    _la("E08000006", "Salford", NORTH_WEST, 276),
    _la("E08000007", "Stockport", NORTH_WEST, 296),
    _la("E08000012", "Liverpool", NORTH_WEST, 491),
    # Yorkshire and The Humber
    _la("E06000010", "Kingston upon Hull, City of", YORKSHIRE, 268),
    _la("E06000014", "York", YORKSHIRE, 203),
    _la("E08000032", "Bradford", YORKSHIRE, 555),
    _la("E08000034", "Kirklees", YORKSHIRE, 437),
    _la("E08000035", "Leeds", YORKSHIRE, 822),
    _la("E08000036", "Wakefield", YORKSHIRE, 356),
    _la("E08000039", "Sheffield", YORKSHIRE, 564),
    # East Midlands
    _la("E06000015", "Derby", EAST_MIDLANDS, 263),
    _la("E06000016", "Leicester", EAST_MIDLANDS, 373),
    _la("E06000018", "Nottingham", EAST_MIDLANDS, 324),
    _la("E06000061", "North Northamptonshire", EAST_MIDLANDS, 363),
    _la("E06000062", "West Northamptonshire", EAST_MIDLANDS, 431),
    _la("E07000138", "Lincoln", EAST_MIDLANDS, 104),
    # West Midlands
    _la("E06000021", "Stoke-on-Trent", WEST_MIDLANDS, 259),
    _la("E06000051", "Shropshire", WEST_MIDLANDS, 326),
    _la("E08000025", "Birmingham", WEST_MIDLANDS, 1157),
    _la("E08000026", "Coventry", WEST_MIDLANDS, 349),
    _la("E08000027", "Dudley", WEST_MIDLANDS, 324),
    _la("E08000028", "Sandwell", WEST_MIDLANDS, 344),
    _la("E08000029", "Solihull", WEST_MIDLANDS, 218),
    _la("E08000030", "Walsall", WEST_MIDLANDS, 286),
    _la("E08000031", "Wolverhampton", WEST_MIDLANDS, 265),
    # East of England
    _la("E06000031", "Peterborough", EAST, 217),
    _la("E06000032", "Luton", EAST, 227),
    _la("E06000033", "Southend-on-Sea", EAST, 181),
    _la("E06000034", "Thurrock", EAST, 178),
    _la("E06000055", "Bedford", EAST, 187),
    _la("E06000056", "Central Bedfordshire", EAST, 298),
    _la("E07000008", "Cambridge", EAST, 146),
    _la("E07000148", "Norwich", EAST, 145),
    # London
    _la("E09000001", "City of London", LONDON, 9),
    _la("E09000003", "Barnet", LONDON, 390),
    _la("E09000005", "Brent", LONDON, 341),
    _la("E09000007", "Camden", LONDON, 211),
    _la("E09000008", "Croydon", LONDON, 392),
    _la("E09000012", "Hackney", LONDON, 261),
    _la("E09000022", "Lambeth", LONDON, 318),
    _la("E09000025", "Newham", LONDON, 357),
    _la("E09000028", "Southwark", LONDON, 309),
    _la("E09000030", "Tower Hamlets", LONDON, 316),
    _la("E09000033", "Westminster", LONDON, 206),
    # South East
    _la("E06000038", "Reading", SOUTH_EAST, 175),
    _la("E06000039", "Slough", SOUTH_EAST, 159),
    _la("E06000042", "Milton Keynes", SOUTH_EAST, 291),
    _la("E06000043", "Brighton and Hove", SOUTH_EAST, 277),
    _la("E06000044", "Portsmouth", SOUTH_EAST, 208),
    _la("E06000045", "Southampton", SOUTH_EAST, 250),
    _la("E06000046", "Isle of Wight", SOUTH_EAST, 141),
    _la("E06000060", "Buckinghamshire", SOUTH_EAST, 558),
    _la("E07000178", "Oxford", SOUTH_EAST, 163),
    # South West
    _la("E06000022", "Bath and North East Somerset", SOUTH_WEST, 194),
    _la("E06000023", "Bristol, City of", SOUTH_WEST, 475),
    _la("E06000025", "South Gloucestershire", SOUTH_WEST, 293),
    _la("E06000026", "Plymouth", SOUTH_WEST, 266),
    _la("E06000030", "Swindon", SOUTH_WEST, 235),
    _la("E06000052", "Cornwall", SOUTH_WEST, 575),
    _la("E06000058", "Bournemouth, Christchurch and Poole", SOUTH_WEST, 401),
    _la("E06000059", "Dorset", SOUTH_WEST, 381),
    _la("E06000066", "Somerset", SOUTH_WEST, 576),
    _la("E07000041", "Exeter", SOUTH_WEST, 131),
    # Wales
    _la("W06000001", "Isle of Anglesey", WALES, 69),
    _la("W06000002", "Gwynedd", WALES, 118),
    _la("W06000005", "Flintshire", WALES, 155),
    _la("W06000006", "Wrexham", WALES, 135),
    _la("W06000011", "Swansea", WALES, 241),
    _la("W06000015", "Cardiff", WALES, 368),
    _la("W06000016", "Rhondda Cynon Taf", WALES, 238),
    _la("W06000022", "Newport", WALES, 161),
    _la("W06000023", "Powys", WALES, 134),
    # Scotland
    _la("S12000017", "Highland", SCOTLAND, 236),
    _la("S12000029", "South Lanarkshire", SCOTLAND, 328),
    _la("S12000033", "Aberdeen City", SCOTLAND, 227),
    _la("S12000034", "Aberdeenshire", SCOTLAND, 263),
    _la("S12000036", "City of Edinburgh", SCOTLAND, 515),
    _la("S12000042", "Dundee City", SCOTLAND, 149),
    _la("S12000047", "Fife", SCOTLAND, 374),
    _la("S12000049", "Glasgow City", SCOTLAND, 623),
    _la("S12000050", "North Lanarkshire", SCOTLAND, 342),
)

AREAS: tuple[Area, ...] = COUNTRIES + REGIONS + LOCAL_AUTHORITIES
AREAS_BY_CODE: dict[str, Area] = {area.code: area for area in AREAS}

# Largely rural or coastal authorities: more farming and tourism, seasonal labour markets.
RURAL_OR_COASTAL: frozenset[str] = frozenset(
    {
        "E06000057",  # Northumberland
        "E06000009",  # Blackpool
        "E06000051",  # Shropshire
        "E06000046",  # Isle of Wight
        "E06000052",  # Cornwall
        "E06000058",  # Bournemouth, Christchurch and Poole
        "E06000059",  # Dorset
        "E06000066",  # Somerset
        "W06000001",  # Isle of Anglesey
        "W06000002",  # Gwynedd
        "W06000023",  # Powys
        "S12000017",  # Highland
        "S12000034",  # Aberdeenshire
    }
)


def region_of(area: Area) -> str:
    """The region code used for regional effects: an English LA's region, else its country."""
    return area.parent_code if area.level == "LOCAL_AUTHORITY" else area.code
