"""The FHIR mapping (``kind: fhir-mapping``): which coded resources feed which covariate, observable or dose.

A YAML file read with :mod:`qsp_sbml.typed_yaml` (every error names file, line and field).  The shipped
default (``qsp_sbml/resources/rwe/fhir_mapping.yaml``) maps body weight, height, serum creatinine,
albumin, bilirubin, ALT and AST (LOINC) to covariate columns and CPIC diplotypes (Genomics Reporting IG
genotype Observations) to genotype columns; drug concentrations (``observables``) and ``medications``
are added by a user mapping, because they depend on the model.

Codes are FHIR search tokens ``system|code`` (``http://loinc.org|29463-7``).

Examples
--------
>>> m = default_mapping()
>>> m.covariate_for("http://loinc.org", "29463-7")
'weight_kg'
"""

from __future__ import annotations

import math
import os
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import pydantic

from qsp_sbml.dosing import Route, as_route
from qsp_sbml.errors import FhirError, UnitError
from qsp_sbml.rwe.quantities import dimension
from qsp_sbml.typed_yaml import SpecModel, YamlDoc, parse, read_yaml

__all__ = ["Coded", "FhirMapping", "GenotypeMapping", "MedicationMapping", "default_mapping", "read_mapping"]

#: SNOMED CT route of administration values (children of 284009009; FHIR ValueSet route-codes).
SNOMED_ROUTES: dict[str, Route] = {
    "26643006": Route.ORAL,  # Oral route
    "47625008": Route.IV_BOLUS,  # Intravenous route (infusion when a rate or a period is given)
    "34206005": Route.SUBCUTANEOUS,  # Subcutaneous route
    "78421000": Route.INTRAMUSCULAR,  # Intramuscular route
}
SNOMED = "http://snomed.info/sct"


def _token(value: str) -> str:
    system, sep, code = value.partition("|")
    if not sep or not system.strip() or not code.strip():
        raise ValueError(f"a code must be written 'system|code' (e.g. 'http://loinc.org|29463-7'), got {value!r}")
    return f"{system.strip()}|{code.strip()}"


def _unit(value: str) -> str:
    try:
        dimension(value)
    except UnitError as err:
        raise ValueError(str(err)) from None
    return value


class Coded(SpecModel):
    """A covariate or an observable: the codes that feed it, its unit and its possible range."""

    #: ``system|code`` tokens; an Observation with any of them feeds this entry.
    codes: tuple[str, ...] = pydantic.Field(min_length=1)
    #: The unit values are converted to (UCUM, e.g. ``kg``, ``mg/dL``, ``umol/L``).
    unit: str
    #: Molecular weight (g/mol) for mass <-> mole concentrations.
    molecular_weight: float | None = pydantic.Field(default=None, gt=0)
    #: ``[low, high]`` in ``unit``; values outside are impossible (``null`` = unbounded).
    range: tuple[float | None, float | None] = (0.0, None)
    #: Accept ``[IU]`` for ``U`` (enzyme activities).
    iu_is_u: bool = True

    @pydantic.field_validator("codes")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_token(c) for c in v)

    @pydantic.field_validator("unit")
    @classmethod
    def _check_unit(cls, v: str) -> str:
        return _unit(v)

    def in_range(self, value: float) -> bool:
        """Whether ``value`` (in ``unit``) is finite and inside ``range``."""
        low, high = self.range
        return math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high)


class GenotypeMapping(SpecModel):
    """Genotype Observations: the code of a diplotype result and of the component naming the gene."""

    #: Codes of the genotype Observation (``http://loinc.org|84413-4`` Genotype display name).
    codes: tuple[str, ...] = pydantic.Field(min_length=1)
    #: Code of the component that names the gene (``http://loinc.org|48018-6`` Gene studied [ID]).
    gene_component: str

    @pydantic.field_validator("codes")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_token(c) for c in v)

    @pydantic.field_validator("gene_component")
    @classmethod
    def _gene(cls, v: str) -> str:
        return _token(v)


class MedicationMapping(SpecModel):
    """A drug: the medication codes that mean it and where its doses go in the model."""

    #: ``system|code`` tokens of the medication (medicationCodeableConcept or the referenced Medication).
    codes: tuple[str, ...] = pydantic.Field(min_length=1)
    #: SBML id receiving the doses (per route with ``targets``).
    target: str | None = None
    #: Route name (``po``, ``iv``...) -> SBML id.
    targets: dict[str, str] = pydantic.Field(default_factory=dict)
    #: Route used when the record gives none (``null``: a dose without a route is an error).
    default_route: str | None = None
    #: Molecular weight (g/mol) for doses in moles on a mass-unit model or the reverse.
    molecular_weight: float | None = pydantic.Field(default=None, gt=0)

    @pydantic.field_validator("codes")
    @classmethod
    def _codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_token(c) for c in v)

    @pydantic.field_validator("targets")
    @classmethod
    def _routes(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            as_route(key)
        return v

    @pydantic.field_validator("default_route")
    @classmethod
    def _route(cls, v: str | None) -> str | None:
        if v is not None:
            as_route(v)
        return v


class FhirMapping(SpecModel):
    """A validated FHIR mapping."""

    #: Always ``fhir-mapping``.
    kind: Literal["fhir-mapping"]
    #: Covariate column -> codes, unit, range.
    covariates: dict[str, Coded] = pydantic.Field(default_factory=dict)
    #: Model output (SBML id) -> codes, unit, range: drug concentrations and disease scores for a twin.
    observables: dict[str, Coded] = pydantic.Field(default_factory=dict)
    #: Genotype Observations (CPIC diplotypes), or none.
    genotypes: GenotypeMapping | None = None
    #: Drug name -> medication codes and dose targets.
    medications: dict[str, MedicationMapping] = pydantic.Field(default_factory=dict)
    #: Resource types whose doses make the dosing history.
    medication_sources: tuple[Literal["MedicationAdministration", "MedicationStatement", "MedicationRequest"], ...] = (
        "MedicationAdministration",
    )

    @pydantic.model_validator(mode="after")
    def _distinct_codes(self) -> FhirMapping:
        seen: dict[str, str] = {}
        entries = [
            *(("covariates", k, v.codes) for k, v in self.covariates.items()),
            *(("observables", k, v.codes) for k, v in self.observables.items()),
            *(("genotypes", "codes", self.genotypes.codes) for _ in [0] if self.genotypes),
        ]
        for section, name, codes in entries:
            for code in codes:
                if code in seen:
                    raise ValueError(
                        f"code {code!r} feeds both {seen[code]} and {section}.{name}; a code must feed one entry"
                    )
                seen[code] = f"{section}.{name}"
        return self

    def covariate_for(self, system: str | None, code: str | None) -> str | None:
        """The covariate fed by ``system|code`` (None when none is)."""
        return self._lookup(self.covariates, system, code)

    def observable_for(self, system: str | None, code: str | None) -> str | None:
        """The observable fed by ``system|code`` (None when none is)."""
        return self._lookup(self.observables, system, code)

    def medication_for(self, system: str | None, code: str | None) -> str | None:
        """The drug meant by the medication code ``system|code`` (None when none is)."""
        return self._lookup(self.medications, system, code)

    def is_genotype(self, system: str | None, code: str | None) -> bool:
        """Whether ``system|code`` is a genotype result code."""
        return self.genotypes is not None and f"{system}|{code}" in self.genotypes.codes

    @staticmethod
    def _lookup(
        table: dict[str, Coded] | dict[str, MedicationMapping], system: str | None, code: str | None
    ) -> str | None:
        token = f"{system}|{code}"
        for name, entry in table.items():
            if token in entry.codes:
                return name
        return None


def read_mapping(path: str | os.PathLike[str]) -> FhirMapping:
    """Read and validate a mapping file; errors name file, line and field.

    Raises
    ------
    FhirError
        A missing file, bad YAML, an unknown field, a bad code token or unit, or a code used twice.
    """
    doc = read_yaml(path, error=FhirError, what="FHIR mapping")
    return _parse(doc)


def _parse(doc: YamlDoc) -> FhirMapping:
    if not isinstance(doc.data, dict) or doc.data.get("kind") != "fhir-mapping":
        raise FhirError(f"{doc.where('kind')}: a FHIR mapping starts with 'kind: fhir-mapping'")
    return parse(FhirMapping, doc, error=FhirError)


@cache
def default_mapping() -> FhirMapping:
    """The shipped default mapping (covariates and genotypes)."""
    ref = resources.files("qsp_sbml.resources").joinpath("rwe", "fhir_mapping.yaml")
    with resources.as_file(ref) as path:
        return read_mapping(Path(path))
