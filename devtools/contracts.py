"""An import-linter contract type the built-in ones cannot express: a package's facade.

`facade`: the `importers` may import from `package` only the modules in `facade`. Unlike a
`forbidden` contract it needs no list of what is off limits, so a module added to the package
later is off limits from the start.
"""

from __future__ import annotations

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields, helpers
from importlinter.domain.contract import Contract, ContractCheck


class FacadeContract(Contract):
    """The importers reach `package` only through the modules of `facade`."""

    type_name = "facade"

    importers = fields.ListField(subfield=fields.ModuleExpressionField())
    package = fields.StringField()
    facade = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        package = str(self.package)
        allowed = {package, *(str(name) for name in self.facade)}  # type: ignore[attr-defined]
        importers = {module.name for module in helpers.module_expressions_to_modules(
            graph=graph, expressions=self.importers, as_packages=True)}  # type: ignore[arg-type]
        illegal = []
        for importer in sorted(importers):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                if imported.startswith(package + ".") and not any(
                        imported == name or imported.startswith(name + ".")
                        for name in allowed - {package}):
                    lines = [d["line_number"] for d in
                             graph.get_import_details(importer=importer, imported=imported)]
                    illegal.append((importer, imported, lines))
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        facade = ", ".join(sorted(str(name) for name in self.facade))  # type: ignore[attr-defined]
        output.print_error(f"Only {facade} may be imported from {self.package}:", bold=False)
        output.new_line()
        for importer, imported, lines in check.metadata["illegal"]:
            output.print_error(f"- {importer} -> {imported} (l.{', '.join(map(str, lines))})",
                               bold=False)
        output.new_line()
