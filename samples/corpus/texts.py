"""The prose of the sample documents (written for this project; CC0, see samples/README.md).

Each document carries a few distinctive phrases that samples/expectations.py looks for, so a test
can tell real extraction from a parser that returns the right amount of the wrong text.
"""

REPORT_TITLE = "Harbour Logistics Quarterly Report Q3 2024"
REPORT_AUTHOR = "Mara Lindqvist"

# One list of paragraphs per page; the phrases on pages 1, 3 and 12 are checked by page.
REPORT_PAGES = [
    [
        "Harbour Logistics Quarterly Report, third quarter 2024.",
        "This report summarises the operating results of the northern terminals, the rail shuttle "
        "service and the cold-storage warehouse in the period from July to September.",
        "The board approved the report on 14 October 2024. All figures are unaudited.",
    ],
    [
        "Summary of the quarter. Container volumes rose for the fourth quarter in a row, while "
        "average dwell time at the quay fell from 4.1 to 3.6 days.",
        "The rail shuttle carried 41,200 containers, its best quarter since the line opened. "
        "Weather closed the outer berth on three days in August.",
    ],
    [
        "Financial results. Net revenue grew by fourteen percent to 182 million euros, driven by "
        "reefer traffic and by the new storage contracts signed in the spring.",
        "Operating costs rose by six percent. Energy prices were stable, but crane maintenance "
        "was brought forward to avoid downtime during the winter peak.",
    ],
    [
        "Terminal operations. The automated stacking cranes reached an availability of 97.8 "
        "percent. Two legacy straddle carriers were retired and sold for parts.",
        "Gate transactions averaged eleven minutes per truck, down from fifteen a year ago, after "
        "the appointment system became mandatory for all hauliers.",
    ],
    [
        "Rail shuttle. The shuttle now runs nine return trips a day between the quay and the "
        "inland depot. Punctuality was 93 percent, with most delays caused by track works.",
        "A tenth daily slot has been requested from the infrastructure manager for next year.",
    ],
    [
        "Cold storage. The warehouse stored an average of 6,300 pallets of fruit and fish. "
        "Temperature excursions were limited to one event, which lasted forty minutes.",
        "The new ammonia-free cooling plant will be commissioned in the first quarter of 2025.",
    ],
    [
        "People and safety. The terminals recorded no lost-time injuries this quarter. Forty-two "
        "new operators completed the crane simulator course.",
        "Staff turnover was 3.1 percent, the lowest figure in five years.",
    ],
    [
        "Environment. Shore power was used by 61 percent of the vessel calls at the ferry berth. "
        "Diesel consumption of the yard fleet fell by nine percent after the switch to electric "
        "tractors on the western apron.",
    ],
    [
        "Customers. Three shipping lines extended their contracts until 2027. A fruit importer "
        "moved its Baltic distribution to the cold-storage warehouse in September.",
        "Customer satisfaction, measured by the annual survey, rose to 8.2 out of 10.",
    ],
    [
        "Investments. Capital expenditure in the quarter was 23 million euros, mainly for the "
        "quay wall extension and for two new electric reach stackers.",
    ],
    [
        "Risks. The main risks for the fourth quarter are the labour negotiations in the port "
        "sector, congestion at transhipment hubs and the volatility of energy prices.",
    ],
    [
        "Outlook. Management expects volumes in the fourth quarter to stay at the level of the "
        "third, with a seasonal peak of reefer traffic in November.",
        "The full-year guidance of 700 million euros in revenue is confirmed.",
    ],
]

LETTER_LINES = [
    "Alder & Finch Solicitors",
    "12 Quarry Lane, Northfield",
    "",
    "Dear Ms Okafor,",
    "",
    "We confirm receipt of the signed lease",
    "for the riverside workshop. The deposit",
    "of 4,500 pounds will be held in escrow",
    "until the inspection on 3 March.",
    "",
    "Yours sincerely,",
    "Daniel Finch",
]

BROCHURE_TITLE = "Evergreen Solar Home Battery"
BROCHURE_AUTHOR = "Evergreen Energy Design Team"
BROCHURE_PAGES = [
    ["Evergreen Solar Home Battery", "Store the sunshine of the afternoon for the evening peak."],
    ["Capacity of 13.5 kilowatt hours in a wall-mounted unit.", "Silent passive cooling, no fans."],
    ["Ten year warranty on every cell.", "Installed by certified electricians within two weeks."],
]

HANDBOOK_TITLE = "Team Handbook for New Engineers"
HANDBOOK_AUTHOR = "Priya Raman"
HANDBOOK = [
    ("Title", HANDBOOK_TITLE),
    ("Heading 1", "Welcome"),
    (None, "Welcome to the platform team. This handbook explains how we plan work, review code "
     "and support the services we run in production."),
    ("Heading 1", "How we plan"),
    (None, "Work is planned in two-week cycles. Every cycle starts with a planning session on "
     "Monday morning and ends with a short demo on Friday afternoon."),
    ("Heading 2", "On-call rotation"),
    (None, "Each engineer joins the on-call rotation after their first six weeks. The pager "
     "rotates every Wednesday at ten o'clock."),
    ("List Bullet", "Acknowledge every page within fifteen minutes."),
    ("List Bullet", "Write a short incident note before handing over the pager."),
    ("Heading 1", "Tools"),
    (None, "The table below lists the tools every engineer needs on the first day."),
]
HANDBOOK_TABLE = [
    ["Tool", "Purpose", "Owner"],
    ["Gitea", "Source code and reviews", "Platform team"],
    ["Grafana", "Dashboards and alerts", "Observability guild"],
    ["Vault", "Secrets for services", "Security team"],
]

MINUTES_TITLE = "Minutes of the Garden Allotment Committee"
MINUTES_AUTHOR = "Tomasz Nowak"
MINUTES = [
    ("Heading 1", "Minutes of the Garden Allotment Committee, 9 April"),
    (None, "Present: six members of the committee and two guests from the water board."),
    ("Heading 2", "Water supply"),
    (None, "The committee agreed to install a second rainwater tank next to the tool shed before "
     "the summer. The water board will lend a pump for the trial."),
    ("Heading 2", "Plot waiting list"),
    (None, "Eleven households are on the waiting list. Plots 14 and 27 will be split in two."),
]
MINUTES_TABLE = [
    ["Action", "Who", "By when"],
    ["Order the rainwater tank", "Greta", "30 April"],
    ["Measure plots 14 and 27", "Jonas", "15 May"],
]
# Placed in a content control (w:sdt), which python-docx's paragraph API does not list.
MINUTES_CONTROL_TEXT = "Decision log: the compost bins move to the north gate."

BLOG_TITLE = "Why our night trains run on time"
BLOG_AUTHOR = "Elena Sørensen"
BLOG_PARAGRAPHS = [
    "When we took over the night train service two winters ago, one train in three arrived more "
    "than twenty minutes late. Today nine in ten arrive within five minutes of the timetable.",
    "The biggest change was not new rolling stock. It was the decision to give every night train "
    "a dedicated path through the freight yards, agreed a full year ahead with the freight "
    "operators, instead of negotiating slots every evening.",
    "The second change was maintenance at the destination. Sleeper cars used to return to the "
    "central depot for cleaning, which cost three hours of empty running. Now a mobile crew cleans "
    "and restocks them at the platform while passengers have breakfast.",
    "Finally, we publish the punctuality of every train, every morning, on the station boards. "
    "Nothing motivates a crew like a number that their families can read.",
]

NEWS_TITLE = "Neue Fahrradbrücke verbindet die Altstadt mit dem Hafen"
NEWS_PARAGRAPHS = [
    "Nach zwei Jahren Bauzeit ist die neue Fahrradbrücke über den Kanal am Samstag eröffnet "
    "worden. Die Brücke ist 180 Meter lang und verbindet die Altstadt direkt mit dem Hafenviertel.",
    "Bürgermeisterin Anja Keller sprach von einem großen Tag für alle, die täglich mit dem Rad "
    "zur Arbeit fahren. Bisher mussten Radfahrer einen Umweg von fast drei Kilometern nehmen.",
    "Die Baukosten lagen mit 14 Millionen Euro leicht über der Planung. Grund dafür waren "
    "gestiegene Stahlpreise und ein Hochwasser im vergangenen Frühjahr.",
]

RELEASE_NOTES = """# Release notes for Tidewater 3.2

Tidewater 3.2 is a maintenance release of the tide prediction service.

## Fixed

- Harmonic constants for the Severn estuary are loaded from the new survey.
- The API no longer rounds low-water times to the nearest ten minutes.

## Changed

The nightly export now writes one file per harbour instead of one file per region, which makes
partial re-runs much cheaper.
"""

API_GUIDE = """# Tidewater API guide

Every request needs an API key in the `X-Tidewater-Key` header.

## Predictions

`GET /v3/harbours/{id}/predictions?days=7` returns high and low water for the next seven days.
Times are in UTC and heights in metres above chart datum.

## Rate limits

Each key may send sixty requests per minute. A client that exceeds the limit receives status 429
and should wait for the number of seconds in the `Retry-After` header.
"""

FIELD_NOTES = """Field notes, Isle of Kerrera, 17 June

Weather calm, light drizzle in the morning. We counted forty-one grey seals hauled out on the
skerries south of the ferry slip, and three common seals further along the shore.

Near the old castle the orchids were in flower: northern marsh orchid and heath spotted orchid.
The café at the tea garden was open; Zoë recommended the rhubarb crumble.
"""

FRENCH_NOTES = """Compte rendu de la réunion du conseil de quartier

Le conseil s'est réuni le mardi 5 mars à la salle des fêtes. Vingt-trois habitants étaient présents.

La création d'un jardin partagé derrière l'école élémentaire a été approuvée à l'unanimité.
Les travaux de l'éclairage public de la rue des Tanneurs commenceront en avril.

Prochaine réunion : le jeudi 2 mai, à dix-huit heures trente.
"""

INVENTORY_NOTES = """Inventory of the village library, spring stocktake

Shelves A to F: adult fiction, 2,140 volumes, nine missing.
Shelves G and H: local history, 312 volumes, including the parish registers on microfilm.
The reading room received a donated globe from 1954.
"""

CATALOGUE = {
    "catalogue": "Spring seed catalogue",
    "publisher": "Fenwick Seed Cooperative",
    "items": [
        {"name": "Purple Sprouting Broccoli", "sow": "April to June", "price_eur": 3.2,
         "notes": "Hardy over winter, harvest from February."},
        {"name": "Crimson Flowered Broad Bean", "sow": "March to April", "price_eur": 2.8,
         "notes": "Heritage variety with scented red flowers."},
        {"name": "Golden Beetroot", "sow": "April to July", "price_eur": 2.5,
         "notes": "Does not bleed when cooked."},
    ],
}

STATION_STATUS = {
    "station": "Weather station Kestrel Ridge",
    "elevation_m": 412,
    "readings": [
        {"time": "2024-05-01T06:00:00Z", "temperature_c": 4.5, "wind": "north-westerly gale"},
        {"time": "2024-05-01T12:00:00Z", "temperature_c": 9.1, "wind": "moderate breeze"},
    ],
    "maintenance": {"last_visit": "2024-04-12", "technician": "Ines Moreau"},
}

SALES_ROWS = [
    ["region", "product", "units", "revenue_eur"],
    ["North", "Trail running shoes", "1240", "148800"],
    ["North", "Waterproof jacket", "860", "171140"],
    ["South", "Trail running shoes", "990", "118800"],
    ["South", "Insulated bottle", "2310", "57750"],
]

CONTACT_ROWS = [
    ["Name", "Straße", "Ort", "Telefon"],
    ["Jürgen Weiß", "Mühlenweg 4", "Lübeck", "0451 123456"],
    ["Käthe Schröder", "Gartenstraße 19", "Göttingen", "0551 987654"],
    ["Björn Maßmann", "Am Deich 2", "Husum", "04841 55555"],
]

WHITEBOARD_LINES = [
    "Sprint goals",
    "1. Ship the invoice export",
    "2. Fix the login timeout",
    "3. Plan the database upgrade",
]

RECEIPT_LINES = [
    "CORNER BAKERY",
    "Sourdough loaf      4.20",
    "Cinnamon buns x2    5.60",
    "TOTAL               9.80",
    "Thank you for your visit",
]

FAX_PAGES = [
    ["FAX COVER SHEET", "To: Harbour Master", "From: Pilot Station West", "Pages: 2"],
    ["The dredger Amsel will", "enter the channel at dawn", "on Thursday. Please keep", "berth seven clear."],
]
