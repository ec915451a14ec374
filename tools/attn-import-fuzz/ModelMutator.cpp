//===- ModelMutator.cpp - structure-aware mutations of ONNX models --------===//

#include "ModelMutator.h"

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace {

using Rng = std::mt19937_64;

/// Sizes, counts and indices at the edges of what the importer's arithmetic
/// and allocations can take.
constexpr int64_t kInterestingInts[] = {
    0,
    1,
    -1,
    2,
    -2,
    3,
    8,
    255,
    65536,
    std::numeric_limits<int32_t>::max(),
    int64_t(std::numeric_limits<int32_t>::max()) + 1,
    std::numeric_limits<int32_t>::min(),
    int64_t(1) << 32,
    int64_t(1) << 40,
    (int64_t(1) << 40) + 1,
    int64_t(1) << 62,
    std::numeric_limits<int64_t>::max(),
    std::numeric_limits<int64_t>::max() - 1,
    std::numeric_limits<int64_t>::min(),
    std::numeric_limits<int64_t>::min() + 1,
};

constexpr float kInterestingFloats[] = {
    0.0f,
    -0.0f,
    1.0f,
    -1.0f,
    0.5f,
    1e30f,
    -1e30f,
    1e-45f,
    std::numeric_limits<float>::infinity(),
    -std::numeric_limits<float>::infinity(),
    std::numeric_limits<float>::quiet_NaN(),
};

/// Operators the importer knows, and a few it does not.
const char *const kOpTypes[] = {
    "Add",        "Sub",         "Mul",           "Div",
    "Pow",        "Sqrt",        "Neg",           "Tanh",
    "Sigmoid",    "Erf",         "Gelu",          "MatMul",
    "Gemm",       "Softmax",     "ReduceMean",    "ReduceSum",
    "ReduceMax",  "LayerNormalization",           "RMSNormalization",
    "RotaryEmbedding",           "Reshape",       "Transpose",
    "Concat",     "Split",       "Slice",         "Gather",
    "Unsqueeze",  "Squeeze",     "Expand",        "Shape",
    "Size",       "Range",       "ConstantOfShape",
    "Constant",   "Identity",    "Cast",          "CastLike",
    "Equal",      "LessOrEqual", "Where",         "IsNaN",
    "Trilu",      "Max",         "Min",           "Clip",
    "CumSum",     "Pad",         "Tile",          "Flatten",
    "Attention",  "GroupQueryAttention",          "MultiHeadAttention",
    "Dropout",    "Conv",        "TopK",          "TensorScatter",
    "ScatterND",  "GatherElements",
};

const char *const kDimParams[] = {"batch", "seq", "past", "total", "unbound",
                                  ""};

const int32_t kDataTypes[] = {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16,
                              99};

template <typename T, size_t N> const T &pick(Rng &rng, const T (&items)[N]) {
  return items[rng() % N];
}

/// A new integer near `old`, its negation, or an interesting value.
/// Unsigned arithmetic: the fuzzer itself must not overflow.
int64_t mutateInt(Rng &rng, int64_t old) {
  switch (rng() % 4) {
  case 0:
    return int64_t(uint64_t(old) + uint64_t(int64_t(rng() % 5) - 2));
  case 1:
    return int64_t(0 - uint64_t(old));
  default:
    return pick(rng, kInterestingInts);
  }
}

template <typename Field> bool mutateIntField(Rng &rng, Field &field) {
  using T = typename Field::value_type;
  if (field.empty() || rng() % 4 == 0) {
    field.Add(T(pick(rng, kInterestingInts)));
    return true;
  }
  T &value = field[rng() % field.size()];
  value = T(mutateInt(rng, value));
  return true;
}

/// Mutates one element (raw bytes or typed field), a dim or the type.
bool mutateTensor(Rng &rng, onnx::TensorProto &t) {
  switch (rng() % 5) {
  case 0:
    return mutateIntField(rng, *t.mutable_dims());
  case 1:
    if (t.dims_size() > 0 && rng() % 2)
      t.mutable_dims()->RemoveLast();
    else
      t.add_dims(rng() % 4);
    return true;
  case 2:
    t.set_data_type(pick(rng, kDataTypes));
    return true;
  default:
    break;
  }
  int32_t type = t.data_type();
  if (t.has_raw_data() && !t.raw_data().empty()) {
    std::string &raw = *t.mutable_raw_data();
    size_t width = type == onnx::TensorProto::INT64   ? 8
                   : type == onnx::TensorProto::INT32 ? 4
                   : type == onnx::TensorProto::FLOAT ? 4
                                                      : 1;
    size_t count = raw.size() / width;
    if (count == 0)
      return false;
    char *at = raw.data() + (rng() % count) * width;
    if (type == onnx::TensorProto::FLOAT) {
      float v = pick(rng, kInterestingFloats);
      std::memcpy(at, &v, 4);
    } else if (width == 8) {
      int64_t v;
      std::memcpy(&v, at, 8);
      v = mutateInt(rng, v);
      std::memcpy(at, &v, 8);
    } else if (width == 4) {
      int32_t v;
      std::memcpy(&v, at, 4);
      v = int32_t(mutateInt(rng, v));
      std::memcpy(at, &v, 4);
    } else {
      *at = char(rng());
    }
    return true;
  }
  if (t.int64_data_size() > 0)
    return mutateIntField(rng, *t.mutable_int64_data());
  if (t.int32_data_size() > 0)
    return mutateIntField(rng, *t.mutable_int32_data());
  if (t.float_data_size() > 0) {
    t.set_float_data(rng() % t.float_data_size(),
                     pick(rng, kInterestingFloats));
    return true;
  }
  return false;
}

bool mutateAttribute(Rng &rng, onnx::NodeProto &node) {
  if (node.attribute_size() == 0 || rng() % 8 == 0) {
    // A new integer attribute with the name of an existing one elsewhere is
    // rare; reuse the names the importer reads most.
    static const char *const names[] = {"axis",      "axes",     "perm",
                                        "num_heads", "q_num_heads",
                                        "kv_num_heads", "to",    "split",
                                        "is_causal", "allowzero"};
    onnx::AttributeProto *a = node.add_attribute();
    a->set_name(pick(rng, names));
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(pick(rng, kInterestingInts));
    return true;
  }
  onnx::AttributeProto &a =
      *node.mutable_attribute(rng() % node.attribute_size());
  switch (a.type()) {
  case onnx::AttributeProto::INT:
    a.set_i(mutateInt(rng, a.i()));
    return true;
  case onnx::AttributeProto::INTS:
    if (a.ints_size() > 0 && rng() % 4 == 0) {
      a.mutable_ints()->RemoveLast();
      return true;
    }
    return mutateIntField(rng, *a.mutable_ints());
  case onnx::AttributeProto::FLOAT:
    a.set_f(pick(rng, kInterestingFloats));
    return true;
  case onnx::AttributeProto::FLOATS:
    a.add_floats(pick(rng, kInterestingFloats));
    return true;
  case onnx::AttributeProto::TENSOR:
    return mutateTensor(rng, *a.mutable_t());
  default:
    return false;
  }
}

/// Every value name of the graph (inputs, initializers, node outputs).
std::vector<std::string> valueNames(const onnx::GraphProto &g) {
  std::vector<std::string> names;
  for (const onnx::ValueInfoProto &v : g.input())
    names.push_back(v.name());
  for (const onnx::TensorProto &t : g.initializer())
    names.push_back(t.name());
  for (const onnx::NodeProto &n : g.node())
    for (const std::string &o : n.output())
      names.push_back(o);
  return names;
}

bool mutateNode(Rng &rng, onnx::GraphProto &g) {
  if (g.node_size() == 0)
    return false;
  onnx::NodeProto &node = *g.mutable_node(rng() % g.node_size());
  switch (rng() % 8) {
  case 0:
    node.set_op_type(pick(rng, kOpTypes));
    node.set_domain(node.op_type() == "GroupQueryAttention" ||
                            node.op_type() == "MultiHeadAttention"
                        ? "com.microsoft"
                        : "");
    return true;
  case 1:
  case 2: {
    std::vector<std::string> names = valueNames(g);
    std::string name = names.empty() || rng() % 8 == 0
                           ? ""
                           : names[rng() % names.size()];
    if (node.input_size() == 0 || rng() % 4 == 0)
      node.add_input(name);
    else
      node.set_input(rng() % node.input_size(), name);
    return true;
  }
  case 3:
    if (node.input_size() == 0)
      return false;
    node.mutable_input()->RemoveLast();
    return true;
  default:
    return mutateAttribute(rng, node);
  }
}

bool mutateValueInfo(Rng &rng, onnx::ValueInfoProto &v) {
  onnx::TypeProto_Tensor &tensor = *v.mutable_type()->mutable_tensor_type();
  if (rng() % 6 == 0) {
    tensor.set_elem_type(pick(rng, kDataTypes));
    return true;
  }
  onnx::TensorShapeProto &shape = *tensor.mutable_shape();
  if (shape.dim_size() == 0 || rng() % 6 == 0) {
    shape.add_dim()->set_dim_value(rng() % 4);
    return true;
  }
  onnx::TensorShapeProto_Dimension &dim =
      *shape.mutable_dim(rng() % shape.dim_size());
  if (rng() % 3 == 0)
    dim.set_dim_param(pick(rng, kDimParams));
  else
    dim.set_dim_value(mutateInt(rng, dim.dim_value()));
  return true;
}

bool mutate(Rng &rng, onnx::ModelProto &model) {
  onnx::GraphProto &g = *model.mutable_graph();
  switch (rng() % 10) {
  case 0:
  case 1:
  case 2:
  case 3:
    return mutateNode(rng, g);
  case 4:
  case 5:
    if (g.initializer_size() == 0)
      return mutateNode(rng, g);
    return mutateTensor(rng,
                        *g.mutable_initializer(rng() % g.initializer_size()));
  case 6:
    if (g.input_size() == 0)
      return false;
    return mutateValueInfo(rng, *g.mutable_input(rng() % g.input_size()));
  case 7:
    if (g.output_size() == 0)
      return false;
    return mutateValueInfo(rng, *g.mutable_output(rng() % g.output_size()));
  case 8:
    if (model.opset_import_size() == 0)
      return false;
    model.mutable_opset_import(0)->set_version(1 + rng() % 25);
    return true;
  default: {
    // Duplicate or drop a node (duplicate outputs, dangling inputs).
    if (g.node_size() == 0)
      return false;
    if (rng() % 2)
      *g.add_node() = g.node(rng() % g.node_size());
    else
      g.mutable_node()->RemoveLast();
    return true;
  }
  }
}

} // namespace

size_t attn_fuzz::mutateModel(uint8_t *data, size_t size, size_t maxSize,
                              unsigned seed) {
  onnx::ModelProto model;
  if (!model.ParseFromArray(data, int(size)) || !model.has_graph())
    return 0;
  Rng rng(seed);
  bool changed = false;
  // Usually one change, sometimes a few.
  for (unsigned i = 0, n = 1 + (rng() % 4 == 0 ? rng() % 3 : 0); i < n; ++i)
    changed |= mutate(rng, model);
  if (!changed)
    return 0;
  std::string out;
  if (!model.SerializeToString(&out) || out.size() > maxSize)
    return 0;
  std::memcpy(data, out.data(), out.size());
  return out.size();
}
