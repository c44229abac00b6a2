"""Names and phrases for demo data (``core.demo``).

Chosen to exercise what real data does to a program: Slovak and Czech
diacritics (Šťastný, Dvořáková, Ľubomír), letters without a decomposition
(Łukasz, Søren), apostrophes and hyphens (O'Brien, Al-Amin), Vietnamese
stacked marks (Nguyễn), CJK without spaces (王伟), Cyrillic, Greek, a
right-to-left name and one very long name. Every person here is invented;
e-mail addresses use only the reserved domains ``example.com`` and
``example.sk`` (RFC 2606 reserves ``example.com``; ``example.sk`` is used the
same way) and UK numbers come from Ofcom's range reserved for drama.
"""

from __future__ import annotations

SK_MALE_FIRST = (
    "Ján", "Peter", "Martin", "Jozef", "Michal", "Tomáš", "Lukáš", "Marek", "Juraj", "Ľubomír", "Ľuboš", "Dušan",
    "Štefan", "Miroslav", "Radoslav", "Branislav", "Vladimír", "Matúš", "Šimon", "Samuel", "Adam", "Jakub",
    "Filip", "Róbert", "Igor", "Ondrej", "Pavol", "Richard", "Ľudovít", "Boris",
)
SK_FEMALE_FIRST = (
    "Mária", "Jana", "Eva", "Zuzana", "Katarína", "Lucia", "Lenka", "Ľubica", "Júlia", "Veronika", "Simona",
    "Andrea", "Monika", "Petra", "Ivana", "Martina", "Barbora", "Nikola", "Kristína", "Soňa", "Dagmar",
    "Alžbeta", "Žofia", "Tatiana", "Ľudmila", "Terézia",
)
#: (male form, female form)
SK_SURNAMES = (
    ("Horváth", "Horváthová"), ("Kováč", "Kováčová"), ("Varga", "Vargová"), ("Tóth", "Tóthová"),
    ("Nagy", "Nagyová"), ("Baláž", "Balážová"), ("Szabó", "Szabóová"), ("Molnár", "Molnárová"),
    ("Novák", "Nováková"), ("Lukáč", "Lukáčová"), ("Kollár", "Kollárová"), ("Németh", "Némethová"),
    ("Šimko", "Šimková"), ("Hudák", "Hudáková"), ("Oravec", "Oravcová"), ("Polák", "Poláková"),
    ("Kráľ", "Kráľová"), ("Gajdoš", "Gajdošová"), ("Ďurica", "Ďuricová"), ("Šťastný", "Šťastná"),
    ("Mráz", "Mrázová"), ("Kmeť", "Kmeťová"), ("Zeman", "Zemanová"), ("Bartoš", "Bartošová"),
    ("Slovák", "Slováková"), ("Jurčo", "Jurčová"), ("Kučera", "Kučerová"), ("Čierny", "Čierna"),
    ("Hrušovský", "Hrušovská"), ("Ďuriš", "Ďurišová"), ("Rusnák", "Rusnáková"), ("Matejka", "Matejková"),
    ("Lipták", "Liptáková"), ("Ševčík", "Ševčíková"), ("Žiak", "Žiaková"), ("Chovanec", "Chovancová"),
)

CZ_MALE_FIRST = (
    "Jan", "Petr", "Jiří", "Josef", "Pavel", "Martin", "Tomáš", "Jaroslav", "Miroslav", "Zdeněk", "Václav",
    "Michal", "František", "Jakub", "Lukáš", "Vojtěch", "Ondřej", "Radek", "Matěj", "Přemysl", "Bořivoj",
    "Dominik", "Kryštof", "Štěpán",
)
CZ_FEMALE_FIRST = (
    "Jana", "Marie", "Eva", "Hana", "Anna", "Lenka", "Kateřina", "Lucie", "Věra", "Alena", "Petra", "Veronika",
    "Jaroslava", "Tereza", "Michaela", "Zdeňka", "Markéta", "Barbora", "Eliška", "Šárka", "Radka", "Dagmar",
    "Růžena", "Ludmila",
)
CZ_SURNAMES = (
    ("Novák", "Nováková"), ("Svoboda", "Svobodová"), ("Novotný", "Novotná"), ("Dvořák", "Dvořáková"),
    ("Černý", "Černá"), ("Procházka", "Procházková"), ("Kučera", "Kučerová"), ("Veselý", "Veselá"),
    ("Horák", "Horáková"), ("Němec", "Němcová"), ("Pokorný", "Pokorná"), ("Marek", "Marková"),
    ("Pospíšil", "Pospíšilová"), ("Hájek", "Hájková"), ("Jelínek", "Jelínková"), ("Král", "Králová"),
    ("Růžička", "Růžičková"), ("Beneš", "Benešová"), ("Fiala", "Fialová"), ("Sedláček", "Sedláčková"),
    ("Doležal", "Doležalová"), ("Zeman", "Zemanová"), ("Kolář", "Kolářová"), ("Navrátil", "Navrátilová"),
    ("Čermák", "Čermáková"), ("Urban", "Urbanová"), ("Vaněk", "Vaňková"), ("Blažek", "Blažková"),
    ("Kříž", "Křížová"), ("Kovář", "Kovářová"), ("Šťastný", "Šťastná"), ("Bartoš", "Bartošová"),
    ("Řezníček", "Řezníčková"), ("Ševčík", "Ševčíková"), ("Štěpánek", "Štěpánková"), ("Hůlka", "Hůlková"),
)

#: Academic titles written before the name in Slovakia and the Czech Republic.
TITLES = ("Ing.", "Mgr.", "MUDr.", "Bc.", "JUDr.", "PhDr.")

#: (name as the person writes it, ASCII e-mail local part)
INTERNATIONAL = (
    ("Łukasz Kowalski", "lukasz.kowalski"),
    ("Agnieszka Wiśniewska", "agnieszka.wisniewska"),
    ("Małgorzata Zając", "malgorzata.zajac"),
    ("Marek Nowak-Dąbrowski", "marek.nowak"),
    ("Anna Müller", "anna.mueller"),
    ("Jürgen Weiß", "juergen.weiss"),
    ("Lena Schröder", "lena.schroeder"),
    ("Seán O'Brien", "sean.obrien"),
    ("Siobhán Ní Bhriain", "siobhan.nibhriain"),
    ("Mary-Jane O'Connor-Smith", "mj.oconnor"),
    ("Nguyễn Văn An", "nguyen.van.an"),
    ("Trần Thị Hương", "tran.thi.huong"),
    ("王伟", "wang.wei"),
    ("李娜", "li.na"),
    ("张敏", "zhang.min"),
    ("김민준", "kim.minjun"),
    ("田中由紀", "yuki.tanaka"),
    ("Zoltán Kovács", "zoltan.kovacs"),
    ("Zsófia Szűcs", "zsofia.szucs"),
    ("Ayşe Yılmaz", "ayse.yilmaz"),
    ("Björn Åström", "bjorn.astrom"),
    ("Søren Kjærgaard", "soren.kjaergaard"),
    ("Ørjan Ødegård", "orjan.odegard"),
    ("José García Núñez", "jose.garcia"),
    ("Ana María de la Cruz", "anamaria.delacruz"),
    ("François Lefèvre", "francois.lefevre"),
    ("Chloé Dubois", "chloe.dubois"),
    ("Giulia Bianchi", "giulia.bianchi"),
    ("João Gonçalves", "joao.goncalves"),
    ("Ioana Popescu", "ioana.popescu"),
    ("Δημήτρης Παπαδόπουλος", "dimitris.papadopoulos"),
    ("Олена Шевченко", "olena.shevchenko"),
    ("Дмитрий Иванов", "dmitry.ivanov"),
    ("Oleksandr Bondarenko", "oleksandr.bondarenko"),
    ("Priya Sharma", "priya.sharma"),
    ("Mohammed Al-Amin", "mohammed.alamin"),
    ("فاطمة الزهراء", "fatima.zahra"),
    ("Emma Johansson", "emma.johansson"),
    ("Maria Magdalena von Hohenzollern-Sigmaringen zu Württemberg", "m.hohenzollern"),
)

EMAIL_DOMAINS = ("example.com", "example.sk")

#: Call-centre agents who appear on recordings (employees, not data subjects of this product).
AGENTS = (
    "Zuzana Kmeťová", "Martin Bartoš", "Lucia Hudáková", "Peter Oravec", "Kateřina Dvořáková", "Ondřej Pokorný",
    "Simona Vargová", "Róbert Tóth", "Barbora Marková", "Michal Šimko", "Andrea Nagyová", "Jakub Horák",
)

#: Recording tags with a relative weight.
TAGS = (
    ("billing", 10), ("complaint", 6), ("cancellation", 6), ("card-payment", 3), ("retention-offer", 6),
    ("technical-issue", 5), ("address-change", 3), ("contract-renewal", 4), ("roaming", 2), ("escalation", 2),
    ("callback", 3), ("gdpr-request", 1),
)

ANNOTATIONS = (
    "Customer asks why the last invoice is higher than usual.",
    "Agent explains the early-termination fee.",
    "Retention offer: three months at half price — customer accepts.",
    "Retention offer declined; cancellation confirmed.",
    "Customer reports no signal at home since Monday.",
    "Agent promises a call-back within 24 hours.",
    "Escalated to second-level support (ticket created).",
    "Customer asks to change the billing address.",
    "Good example of handling an angry caller — use in training.",
    "Long hold here (music), customer complains about waiting.",
    "Customer mentions a complaint to the regulator.",
    "Customer asks for a copy of their data — forwarded to compliance.",
    "Agent verifies identity with date of birth and customer number.",
    "Roaming charges disputed; agent credits 12.40 €.",
)

REDACTION_REASON = ("Card number and security code read out by the customer (PCI DSS: sensitive "
                    "authentication data must not be stored after authorisation).")
REDACTION_NOTE = "Customer reads out the card number — region redacted."

RESTRICTION_REASONS = (
    "Accuracy contested (GDPR Art. 18(1)(a)): the customer disputes the recorded phone number.",
    "Objection pending verification (GDPR Art. 18(1)(d)).",
    "Customer needs the data for a legal claim (GDPR Art. 18(1)(c)); not to be processed otherwise.",
    "Processing contested as unlawful; erasure opposed by the customer (GDPR Art. 18(1)(b)).",
)

OBJECTION_REASONS = (
    "Objects to call-quality analytics (GDPR Art. 21(1)).",
    "Objects to direct marketing (GDPR Art. 21(2)).",
    "Does not want calls used for agent training.",
    "Objects to profiling for retention offers (GDPR Art. 21(1)).",
)

RECTIFICATION_REASONS = (
    "Customer reported a typo in the e-mail address.",
    "New phone number given by the customer on a call.",
    "Surname changed after marriage (certificate seen).",
    "Date of birth corrected against an identity document.",
    "Name spelled without diacritics at sign-up.",
)

REQUEST_DETAILS = {
    "access": (
        "Requests a copy of all personal data, including call recordings.",
        "Wants to know which calls were recorded in the last year and to receive the audio.",
        "Asks what data is held and who it was shared with (Art. 15(1)).",
    ),
    "rectification": (
        "The e-mail address on the account is wrong.",
        "Surname changed; asks to update the account.",
        "Phone number belongs to a former partner; asks to replace it.",
    ),
    "erasure": (
        "Closed the contract and asks for all data to be deleted.",
        "Asks to delete the account and every call recording.",
        "Withdraws consent and asks for erasure (Art. 17(1)(b)).",
    ),
    "restriction": (
        "Disputes the accuracy of the recorded data; asks to restrict processing meanwhile.",
        "Needs the recordings kept for a court case but not used otherwise.",
    ),
    "portability": (
        "Asks for the account data in a machine-readable format to move to another provider.",
        "Wants subject.json for the new operator.",
    ),
    "objection": (
        "Objects to the use of calls for quality analytics.",
        "Objects to profiling for retention offers.",
    ),
}

REJECTION_REASONS = (
    "Identity could not be verified after two requests for information (GDPR Art. 12(6)).",
    "Manifestly unfounded: the fifth identical request within a month (GDPR Art. 12(5)).",
    "Erasure refused for the recordings under legal hold: needed for a legal claim (GDPR Art. 17(3)(e)).",
    "The requester holds no account with us; no personal data found.",
)

EXTENSION_REASON = ("Complex request: recordings from two call centres must be collected and each one reviewed "
                    "for other people's voices before delivery (GDPR Art. 12(3), Art. 15(4)).")

HOLD_REASONS = {
    "subject": "Litigation: dispute over an early-termination fee (court case 12C/345/2025). "
               "Keep the account and its calls until the case is closed (GDPR Art. 17(3)(e)).",
    "recording": "Complaint escalated to the supervisory authority; the call is kept as evidence.",
    "released": "Internal fraud investigation FR-2291.",
}
HOLD_RELEASE_REASON = "Investigation closed without findings."

CHANNELS = ("email", "web_form", "letter", "phone", "in_person")
