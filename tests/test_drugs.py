"""The drug dimension: names as written -> generic ingredients, class, and how."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from llm_extract import extract
from llm_extract.drugs import annotate_record, drug_of, forget_corrected, resolve_drug
from llm_extract.drugs.table import GENERIC_CLASSES, PRODUCTS
from llm_extract.models import DrugClass, Item, Medication, Record

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


@pytest.mark.parametrize(
    ("name", "ingredients", "drug_class"),
    [
        # brands the dictionary resolves
        ("Voltaren gel", ["diclofenac"], "nsaid"),
        ("Ultram ER", ["tramadol"], "opioid"),
        ("Flexeril", ["cyclobenzaprine"], "muscle_relaxant"),
        ("Prevacid", ["lansoprazole"], "proton_pump_inhibitor"),
        ("Lyrica", ["pregabalin"], "anticonvulsant_neuropathic"),
        ("Cymbalta", ["duloxetine"], "antidepressant"),
        ("Ambien", ["zolpidem"], "sleep_aid"),
        ("Lidoderm", ["lidocaine"], "topical_analgesic"),
        # generics, with salts and release forms as letters write them
        ("Oxycodone HCL ER", ["oxycodone"], "opioid"),
        ("Diclofenac sodium", ["diclofenac"], "nsaid"),
        ("Diazepam (Valium)", ["diazepam"], "benzodiazepine"),
        ("gabapentin", ["gabapentin"], "anticonvulsant_neuropathic"),
        # combinations written out
        ("Hydrocodone/APAP", ["hydrocodone", "acetaminophen"], "opioid"),
    ],
)
def test_dictionary_names(name: str, ingredients: list[str], drug_class: str) -> None:
    drug = resolve_drug(name)
    assert list(drug.ingredients) == ingredients
    assert drug.drug_class == drug_class
    assert drug.resolution == "dictionary"


@pytest.mark.parametrize(
    ("name", "ingredients", "drug_class"),
    [
        # brand combinations the dictionary lacks
        ("Norco 10/325mg", ["hydrocodone", "acetaminophen"], "opioid"),
        ("Percocet", ["oxycodone", "acetaminophen"], "opioid"),
        ("Trezix", ["acetaminophen", "caffeine", "dihydrocodeine"], "opioid"),
        # compounding kits (oral suspensions of one generic)
        ("Fanatrex", ["gabapentin"], "anticonvulsant_neuropathic"),
        ("Synapryn", ["tramadol"], "opioid"),
        ("Tabradol", ["cyclobenzaprine"], "muscle_relaxant"),
        ("Deprizine", ["ranitidine"], "other"),
        ("Dicopanol", ["diphenhydramine"], "sleep_aid"),
        # proprietary topicals
        ("Terocin", ["methyl salicylate", "capsaicin", "menthol", "lidocaine"], "topical_compound"),
        ("Anecream", ["lidocaine"], "topical_analgesic"),
    ],
)
def test_table_names(name: str, ingredients: list[str], drug_class: str) -> None:
    drug = resolve_drug(name)
    assert list(drug.ingredients) == ingredients
    assert drug.drug_class == drug_class
    assert drug.resolution == "table"


def test_compounded_topicals_are_one_class_whatever_their_ingredients() -> None:
    a = resolve_drug("Flurbiprofen, Cyclobenzaprine, Gabapentin, Lidocaine/Dextromethorphan")
    assert set(a.ingredients) == {
        "flurbiprofen",
        "cyclobenzaprine",
        "gabapentin",
        "lidocaine",
        "dextromethorphan",
    }
    assert a.drug_class == DrugClass.TOPICAL_COMPOUND
    # capsaicin is not in the dictionary: the table adds it, and says so
    b = resolve_drug("Dextromethorphan/Amitriptyline/Lidocaine/Capsaicin")
    assert set(b.ingredients) == {"dextromethorphan", "amitriptyline", "lidocaine", "capsaicin"}
    assert (b.drug_class, b.resolution) == (DrugClass.TOPICAL_COMPOUND, "table")
    # one NSAID in a cream is still an NSAID, not a compound
    assert resolve_drug("Ketoprofen cream").drug_class == DrugClass.NSAID


@pytest.mark.parametrize("name", ["Xyzzorin 5mg", "Theraflexin kit", "the requested medication"])
def test_unknown_names_are_unresolved_not_guessed(name: str) -> None:
    drug = resolve_drug(name)
    assert drug.resolution == "unresolved"
    assert drug.ingredients == ()
    assert drug.drug_class is None


def test_table_is_consistent() -> None:
    # every ingredient of a table product that has a class of its own is a known generic
    for _name, (ingredients, cls) in PRODUCTS.items():
        assert ingredients and isinstance(cls, DrugClass)
        for ing in ingredients:
            assert ing == ing.casefold().strip()
    assert all(isinstance(c, DrugClass) for c in GENERIC_CLASSES.values())


def test_annotate_record_fills_every_medication_and_skips_other_items() -> None:
    rec = Record(
        letter_id="x",
        items=[
            Item(
                request="Norco 10/325 #60", decision="upheld", medication=Medication(name="Norco")
            ),
            Item(request="Physical therapy x6", decision="overturned"),
            Item(request="Blorptex", decision="upheld", medication=Medication(name="Blorptex")),
        ],
    )
    annotate_record(rec)
    med0, med2 = rec.items[0].medication, rec.items[2].medication
    assert med0 is not None and med2 is not None
    assert (med0.ingredients, med0.drug_class, med0.resolution) == (
        ["hydrocodone", "acetaminophen"],
        DrugClass.OPIOID,
        "table",
    )
    assert (med2.ingredients, med2.drug_class, med2.resolution) == ([], None, "unresolved")
    assert rec.items[1].medication is None
    # what is stored round-trips, and a stored medication is derived from its (corrected) name
    again = Record.model_validate_json(rec.to_json())
    assert again.items[0].medication == med0
    stored = json.loads(rec.to_json())
    assert drug_of(stored["items"][0]["medication"]).ingredients == ("hydrocodone", "acetaminophen")
    stored["items"][0]["medication"]["name"] = "Percocet"  # a person corrected the name
    forget_corrected(stored, ["items[0].medication.name", "items[1].quantity"])
    drug = drug_of(stored["items"][0]["medication"])
    assert drug is not None and drug.ingredients == ("oxycodone", "acetaminophen")
    # an item list a person edited: every medication is derived again
    stored["items"][2]["medication"]["name"] = "Fanatrex"
    forget_corrected(stored, ["items"])
    assert drug_of(stored["items"][2]["medication"]).resolution == "table"
    assert drug_of(stored["items"][1].get("medication")) is None


def test_derived_fields_are_not_in_the_llm_answer_schemas() -> None:
    from llm_extract.llm import schemas

    models = [
        m
        for m in vars(schemas).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == schemas.__name__
    ]
    assert models
    text = json.dumps([m.model_json_schema() for m in models])
    for field in ("ingredients", "drug_class", "resolution"):
        assert field not in text


@pytest.mark.corpus
def test_every_backend_path_annotates_a_real_letter() -> None:
    letters = sorted((CORPUS / "letters").glob("*.pdf"))
    if not letters:
        pytest.skip("corpus not present")
    for pdf in letters:
        rec = extract(pdf, backend="rules")
        meds = [it.medication for it in rec.items if it.medication is not None]
        if meds:
            break
    else:  # pragma: no cover - the corpus has medication letters
        pytest.fail("no medication item in the corpus")
    assert all(m.resolution in ("dictionary", "table", "unresolved") for m in meds)
    assert all((m.resolution == "unresolved") == (m.drug_class is None) for m in meds)
