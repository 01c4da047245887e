"""The raw contract, read from dbt's source YAML: every table and column typed, described and in file order."""

from __future__ import annotations

import pytest
import yaml

from warehouse import schema


def test_every_table_and_column_comes_from_the_source_yaml() -> None:
    document = yaml.safe_load(schema.SOURCES_FILE.read_text())
    declared = [t["name"] for t in document["sources"][0]["tables"]]
    assert list(schema.tables()) == declared
    for table in schema.tables().values():
        assert table.columns and table.description
        for column in table.columns:
            assert column.type in (schema.INT, schema.FLOAT, schema.TEXT), (table.name, column.name)
            assert column.description, (table.name, column.name)
            assert (column.domain is not None) == (column.type == schema.TEXT), (table.name, column.name)


def test_application_test_has_the_train_columns_but_target() -> None:
    train, test = schema.tables()["application_train"], schema.tables()["application_test"]
    assert test.column_names == [c for c in train.column_names if c != "TARGET"]
    assert test.key == train.key == ("SK_ID_CURR",)


def test_domains_keys_and_parents() -> None:
    assert schema.DAYS_CODE == 365243
    assert schema.NOT_AVAILABLE == ("XNA", "XAP")
    assert schema.APPLICATION_DOMAINS["NAME_TYPE_SUITE"][2] == "Spouse, partner"
    assert schema.APPLICATION_DOMAINS["FLAG_OWN_CAR"] == ["Y", "N"]  # quoted in YAML: not booleans
    assert schema.BUREAU_BALANCE_STATUSES == ["C", "X", "0", "1", "2", "3", "4", "5"]
    assert schema.tables()["bureau_balance"].parents == {"SK_ID_BUREAU": "bureau"}
    assert schema.tables()["POS_CASH_balance"].key == ("SK_ID_PREV", "MONTHS_BALANCE")


def test_the_dictionary_lists_descriptions_in_file_order() -> None:
    bureau = schema.dictionary()["bureau"]
    assert bureau[0] == ("SK_ID_CURR", schema.tables()["bureau"].columns[0].description)
    with pytest.raises(StopIteration):
        schema.tables()["bureau"].column("NOT_A_COLUMN")
