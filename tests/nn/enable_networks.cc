// The network tests build networks through CreateProblem (simulate, in-process federations):
// register the LibTorch factory before main, as the ef21 binary does at its start.
#include "common/run/networks/enable_networks.h"

namespace ef21 {
namespace {

const bool kNetworksEnabled = (EnableNetworkProblems(), true);

}  // namespace
}  // namespace ef21
