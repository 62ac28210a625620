"""pydantic v2 (with its Rust core) in a WASI module: reads orders as JSON from stdin."""

import json
import sys
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)

SAMPLE = """{
  "id": "0f8fad5b-d9cb-469f-a165-70867728950e",
  "customer": {"name": "  ada lovelace ", "email": "ada@example.org",
               "address": {"street": "12 Analytical Row", "city": "London", "postcode": "NW1 6XE"}},
  "placed": "2024-02-29",
  "status": "paid",
  "lines": [
    {"sku": "BK-001", "qty": 2, "unit_price": "19.99"},
    {"sku": "PN-042", "qty": "3", "unit_price": 2.5, "tags": ["gift", "gift", "fragile"]}
  ]
}"""


class Status(str, Enum):
    new = "new"
    paid = "paid"
    shipped = "shipped"


class Address(BaseModel):
    street: str
    city: str
    postcode: Annotated[str, Field(pattern=r"^[A-Z0-9 ]{5,8}$")]


class Customer(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=2, max_length=40)]
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
    address: Address

    @field_validator("name")
    @classmethod
    def title_case(cls, value: str) -> str:
        return value.title()


class Line(BaseModel):
    sku: Annotated[str, Field(pattern=r"^[A-Z]{2}-\d{3}$")]
    qty: Annotated[int, Field(gt=0, le=100)]
    unit_price: Annotated[Decimal, Field(gt=0, max_digits=8, decimal_places=2)]
    tags: list[str] = []

    @computed_field
    @property
    def total(self) -> Decimal:
        return self.qty * self.unit_price


class Order(BaseModel):
    id: UUID
    customer: Customer
    placed: date
    status: Status = Status.new
    lines: Annotated[list[Line], Field(min_length=1)]
    channel: Literal["web", "shop"] = "web"

    @model_validator(mode="after")
    def distinct_skus(self) -> "Order":
        skus = [line.sku for line in self.lines]
        if len(skus) != len(set(skus)):
            raise ValueError("each SKU may appear once")
        return self

    @computed_field
    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal(0))


def main():
    text = sys.stdin.read() or SAMPLE
    try:
        order = Order.model_validate_json(text)
    except ValidationError as e:
        print(f"{e.error_count()} validation errors")
        print(e)
        print(json.dumps([(".".join(map(str, err["loc"])), err["type"]) for err in e.errors()]))
        return 1
    print(repr(order.customer))
    print("total:", order.total, "lines:", [(line.sku, line.qty, str(line.total)) for line in order.lines])
    dumped = order.model_dump_json()
    print(dumped)
    again = Order.model_validate_json(dumped)
    print("round trip equal:", again == order)
    print(order.model_dump(mode="json", include={"placed", "status", "total"}))
    print(json.dumps(Order.model_json_schema(), indent=1, sort_keys=True))
    ints = TypeAdapter(list[int])
    print(ints.validate_python(["1", 2, 3.0]), ints.dump_json([4, 5]).decode())
    return 0
