//===- AttnDialect.td - the attn dialect declaration -------*- tablegen -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
#define ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention with explicit query and key/value head counts";
  let description = [{
    The `attn` dialect states multi-head, grouped-query and multi-query
    attention as one operation whose number of query heads (`Hq`) and of
    key/value heads (`Hkv`) are both part of the IR. Query head `h` reads
    key/value head `h / (Hq / Hkv)`, so K and V are never broadcast to every
    query head. See `docs/AttnDialect.md` for the rationale.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect"];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_ATTN_IR_ATTNDIALECT_TD
