"""deesse_async: async data access for FastAPI/Starlette services.

Declare collections once; get SQLAlchemy tables, pydantic models, validated CRUD on
SQLite, PostgreSQL and MySQL/MariaDB.
"""

from .config import define_config as define_config
from .database import Database as Database
from .errors import AccessDenied as AccessDenied
from .errors import CheckViolation as CheckViolation
from .errors import ConfigError as ConfigError
from .errors import ConnectionError as ConnectionError
from .errors import DatabaseError as DatabaseError
from .errors import DataConflictError as DataConflictError
from .errors import DataLossError as DataLossError
from .errors import DeadlockDetected as DeadlockDetected
from .errors import DeesseError as DeesseError
from .errors import ForeignKeyViolation as ForeignKeyViolation
from .errors import HookRecursionError as HookRecursionError
from .errors import IntegrityError as IntegrityError
from .errors import LockTimeout as LockTimeout
from .errors import NotFound as NotFound
from .errors import NotNullViolation as NotNullViolation
from .errors import QueryError as QueryError
from .errors import SchemaSyncError as SchemaSyncError
from .errors import SerializationFailure as SerializationFailure
from .errors import TransactionConflict as TransactionConflict
from .errors import UniqueViolation as UniqueViolation
from .errors import ValidationError as ValidationError
from .query.access import AccessContext as AccessContext
from .query.aggregates import Aggregate as Aggregate
from .query.aggregates import agg as agg
from .query.api import CollectionQuery as CollectionQuery
from .query.api import QueryNamespace as QueryNamespace
from .query.options import Placeholder as Placeholder
from .query.options import placeholder as placeholder
from .query.pages import Page as Page
from .query.planner import PreparedQuery as PreparedQuery
from .query.planner import Query as Query
from .query.stream import RowStream as RowStream
from .runtime.crud import CollectionAPI as CollectionAPI
from .runtime.database import DatabaseView as DatabaseView
from .runtime.database import Transaction as Transaction
from .runtime.routing import ReadRouting as ReadRouting
from .runtime.routing import ReplicaStatus as ReplicaStatus
from .schema import Collection as Collection
from .schema import Field as Field
from .schema import boolean as boolean
from .schema import collection as collection
from .schema import date as date
from .schema import email as email
from .schema import field as field
from .schema import index as index
from .schema import integer as integer
from .schema import json as json
from .schema import number as number
from .schema import optional as optional
from .schema import relation as relation
from .schema import required as required
from .schema import select as select
from .schema import text as text
from .schema import timestamp as timestamp
from .schema import unique as unique
from .schema import uuid as uuid
from .schema.fields import Boolean as Boolean
from .schema.fields import Date as Date
from .schema.fields import Email as Email
from .schema.fields import FieldType as FieldType
from .schema.fields import Integer as Integer
from .schema.fields import Json as Json
from .schema.fields import Number as Number
from .schema.fields import Relation as Relation
from .schema.fields import Select as Select
from .schema.fields import Text as Text
from .schema.fields import Timestamp as Timestamp
from .schema.fields import Uuid as Uuid
from .schema.relations import Relations as Relations
from .schema.relations import RelationSpec as RelationSpec
from .schema.relations import Through as Through
from .schema.relations import define_relations as define_relations
from .schema.relations import many as many
from .schema.relations import one as one
from .schema.relations import through as through
from .sync.plan import DataConflict as DataConflict
from .sync.plan import PlanChange as PlanChange
from .sync.plan import PlannedStatement as PlannedStatement
from .sync.plan import SyncPlan as SyncPlan

__version__ = "0.1.0"

__all__ = [
    "AccessContext",
    "AccessDenied",
    "Aggregate",
    "Boolean",
    "CheckViolation",
    "Collection",
    "CollectionAPI",
    "CollectionQuery",
    "ConfigError",
    "ConnectionError",
    "DataConflict",
    "DataConflictError",
    "DataLossError",
    "Database",
    "DatabaseError",
    "DatabaseView",
    "Date",
    "DeadlockDetected",
    "DeesseError",
    "Email",
    "Field",
    "FieldType",
    "ForeignKeyViolation",
    "HookRecursionError",
    "Integer",
    "IntegrityError",
    "Json",
    "LockTimeout",
    "NotFound",
    "NotNullViolation",
    "Number",
    "Page",
    "Placeholder",
    "PlanChange",
    "PlannedStatement",
    "PreparedQuery",
    "Query",
    "QueryError",
    "QueryNamespace",
    "ReadRouting",
    "Relation",
    "RelationSpec",
    "Relations",
    "ReplicaStatus",
    "RowStream",
    "SchemaSyncError",
    "Select",
    "SerializationFailure",
    "SyncPlan",
    "Text",
    "Through",
    "Timestamp",
    "Transaction",
    "TransactionConflict",
    "UniqueViolation",
    "Uuid",
    "ValidationError",
    "agg",
    "boolean",
    "collection",
    "date",
    "define_config",
    "define_relations",
    "email",
    "field",
    "index",
    "integer",
    "json",
    "many",
    "number",
    "one",
    "optional",
    "placeholder",
    "relation",
    "required",
    "select",
    "text",
    "through",
    "timestamp",
    "unique",
    "uuid",
]
