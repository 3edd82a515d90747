"""What the drug dictionary lacks, in one place: the names workers'
compensation letters use that ``drug-named-entity-recognition`` does not
resolve (brand combinations, compounding kits, proprietary topicals), and the
class of each generic name.

Kit contents are those stated on the manufacturers' labels as quoted in IMR
letters and the California MTUS/ODG discussions of them: the kits are oral
suspensions compounded from one generic (plus an excipient base).
"""

from __future__ import annotations

from ..models import DrugClass

OPIOID = DrugClass.OPIOID
NSAID = DrugClass.NSAID
RELAXANT = DrugClass.MUSCLE_RELAXANT
NEURO = DrugClass.ANTICONVULSANT_NEUROPATHIC
ANTIDEPRESSANT = DrugClass.ANTIDEPRESSANT
PPI = DrugClass.PROTON_PUMP_INHIBITOR
TOPICAL = DrugClass.TOPICAL_COMPOUND
ANALGESIC = DrugClass.TOPICAL_ANALGESIC
SLEEP = DrugClass.SLEEP_AID
BENZO = DrugClass.BENZODIAZEPINE
OTHER = DrugClass.OTHER

# Brand or kit name (lower case, as written) -> (generic ingredients, class).
PRODUCTS: dict[str, tuple[tuple[str, ...], DrugClass]] = {
    # brand combinations
    "norco": (("hydrocodone", "acetaminophen"), OPIOID),
    "vicodin": (("hydrocodone", "acetaminophen"), OPIOID),
    "lortab": (("hydrocodone", "acetaminophen"), OPIOID),
    "percocet": (("oxycodone", "acetaminophen"), OPIOID),
    "endocet": (("oxycodone", "acetaminophen"), OPIOID),
    "ultracet": (("tramadol", "acetaminophen"), OPIOID),
    "tylenol #3": (("acetaminophen", "codeine"), OPIOID),
    "tylenol with codeine": (("acetaminophen", "codeine"), OPIOID),
    "trezix": (("acetaminophen", "caffeine", "dihydrocodeine"), OPIOID),
    "fioricet": (("butalbital", "acetaminophen", "caffeine"), OTHER),
    "soma": (("carisoprodol",), RELAXANT),
    "lorzone": (("chlorzoxazone",), RELAXANT),
    "colace": (("docusate",), OTHER),
    # compounding kits (oral suspensions)
    "fanatrex": (("gabapentin",), NEURO),
    "synapryn": (("tramadol",), OPIOID),
    "tabradol": (("cyclobenzaprine",), RELAXANT),
    "deprizine": (("ranitidine",), OTHER),
    "dicopanol": (("diphenhydramine",), SLEEP),
    # proprietary topicals
    "terocin": (("methyl salicylate", "capsaicin", "menthol", "lidocaine"), TOPICAL),
    "lidopro": (("capsaicin", "lidocaine", "menthol", "methyl salicylate"), TOPICAL),
    "medrox": (("methyl salicylate", "menthol", "capsaicin"), TOPICAL),
    # the original Salonpas patch (Pain Relieving Patch); "Salonpas Hot" is capsaicin
    "salonpas": (("camphor", "menthol", "methyl salicylate"), TOPICAL),
    "anecream": (("lidocaine",), ANALGESIC),
    # generics the dictionary does not know
    "capsaicin": (("capsaicin",), ANALGESIC),
    "menthol": (("menthol",), ANALGESIC),
    "camphor": (("camphor",), ANALGESIC),
}

# Abbreviations letters use for an ingredient.
ALIASES: dict[str, str] = {"apap": "acetaminophen", "hcl": "", "er": "", "xr": ""}

# Generic name -> class.  A generic not here gets the class its MeSH
# pharmacological action gives (MESH_CLASSES), else ``other``.
GENERIC_CLASSES: dict[str, DrugClass] = {
    **dict.fromkeys(
        (
            "hydrocodone",
            "oxycodone",
            "tramadol",
            "tapentadol",
            "morphine",
            "codeine",
            "dihydrocodeine",
            "oxymorphone",
            "hydromorphone",
            "fentanyl",
            "buprenorphine",
            "methadone",
            "meperidine",
        ),
        OPIOID,
    ),
    **dict.fromkeys(
        (
            "ibuprofen",
            "naproxen",
            "diclofenac",
            "etodolac",
            "meloxicam",
            "celecoxib",
            "nabumetone",
            "ketoprofen",
            "flurbiprofen",
            "ketorolac",
            "piroxicam",
            "indomethacin",
        ),
        NSAID,
    ),
    **dict.fromkeys(
        (
            "cyclobenzaprine",
            "baclofen",
            "tizanidine",
            "methocarbamol",
            "metaxalone",
            "carisoprodol",
            "chlorzoxazone",
            "orphenadrine",
        ),
        RELAXANT,
    ),
    **dict.fromkeys(("gabapentin", "pregabalin", "topiramate", "carbamazepine"), NEURO),
    **dict.fromkeys(
        (
            "duloxetine",
            "amitriptyline",
            "nortriptyline",
            "trazodone",
            "venlafaxine",
            "sertraline",
            "fluoxetine",
            "citalopram",
            "escitalopram",
            "bupropion",
        ),
        ANTIDEPRESSANT,
    ),
    **dict.fromkeys(
        ("omeprazole", "pantoprazole", "lansoprazole", "esomeprazole", "rabeprazole"), PPI
    ),
    **dict.fromkeys(("zolpidem", "eszopiclone", "diphenhydramine", "doxylamine"), SLEEP),
    **dict.fromkeys(("diazepam", "alprazolam", "lorazepam", "clonazepam", "temazepam"), BENZO),
    **dict.fromkeys(("lidocaine", "capsaicin", "menthol", "camphor"), ANALGESIC),
}

# MeSH pharmacological actions the dictionary reports (``mesh_id``) -> class.
MESH_CLASSES: dict[str, DrugClass] = {
    "D009294": OPIOID,  # Narcotics
    "D000701": OPIOID,  # Analgesics, Opioid
    "D016861": NSAID,  # Cyclooxygenase Inhibitors
    "D052246": NSAID,  # Cyclooxygenase 2 Inhibitors
    "D000894": NSAID,  # Anti-Inflammatory Agents, Non-Steroidal
    "D054328": PPI,  # Proton Pump Inhibitors
    "D009125": RELAXANT,  # Muscle Relaxants, Central
    "D000927": NEURO,  # Anticonvulsants
    "D000928": ANTIDEPRESSANT,  # Antidepressive Agents
    "D006993": SLEEP,  # Hypnotics and Sedatives
}

# Ingredients only used on the skin: a product combining one of these with
# other ingredients is a topical compound whatever the others are.
TOPICAL_AGENTS = frozenset({"capsaicin", "menthol", "camphor", "methyl salicylate", "lidocaine"})
# Words in a name that say the product goes on the skin.
TOPICAL_WORDS = frozenset(
    {"cream", "gel", "ointment", "lotion", "patch", "topical", "compound", "compounded"}
)
# When a combination's ingredients fall in several classes, the first here names it.
CLASS_PRECEDENCE: tuple[DrugClass, ...] = (
    OPIOID,
    BENZO,
    RELAXANT,
    NEURO,
    ANTIDEPRESSANT,
    NSAID,
    PPI,
    SLEEP,
    ANALGESIC,
    OTHER,
)
