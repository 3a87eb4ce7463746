"""Function library: the registry, overload resolution and the built-in functions."""

from ksql.functions.registry import (
    DECIMAL_ANY,
    STRUCT_ANY,
    AnyDecimal,
    AnyStruct,
    FunctionInfo,
    FunctionRegistry,
    Generic,
    K,
    LambdaArg,
    LambdaType,
    Overload,
    ResolvedFunction,
    S,
    T,
    U,
    V,
    default_registry,
    scalar,
)

__all__ = [
    "DECIMAL_ANY", "STRUCT_ANY", "AnyDecimal", "AnyStruct", "FunctionInfo", "FunctionRegistry", "Generic",
    "K", "LambdaArg", "LambdaType", "Overload", "ResolvedFunction", "S", "T", "U", "V",
    "default_registry", "scalar",
]
