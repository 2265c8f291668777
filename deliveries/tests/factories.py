from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import factory

from deliveries.models import Delivery, ImportBatch
from tenants.tests.factories import TenantFactory


class ImportBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportBatch

    tenant = factory.SubFactory(TenantFactory)
    file_name = "factory.csv"
    file_sha256 = factory.Sequence(lambda n: f"{n:064x}")
    rows_read = 0
    rows_imported = 0
    rows_rejected = 0
    rows_duplicate = 0
    started_at = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
    finished_at = factory.LazyAttribute(lambda batch: batch.started_at)


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    tenant = factory.SubFactory(TenantFactory)
    import_batch = factory.SubFactory(ImportBatchFactory, tenant=factory.SelfAttribute("..tenant"))
    external_order_id = factory.Sequence(lambda n: f"0x{n:05x}")
    courier_id = "INDORES13DEL02"
    courier_age = 30
    courier_rating = 4.7
    pickup_latitude = 22.745049
    pickup_longitude = 75.892471
    drop_latitude = 22.765049
    drop_longitude = 75.912471
    ordered_at = factory.Sequence(
        lambda n: dt.datetime(2022, 3, 1, 12, 0, tzinfo=ZoneInfo("Asia/Kolkata")) + dt.timedelta(minutes=n)
    )
    picked_at = factory.LazyAttribute(lambda d: d.ordered_at + dt.timedelta(minutes=10))
    weather = "sunny"
    traffic = "low"
    vehicle = "motorcycle"
    area = "urban"
    delivery_minutes = 25.0
