// The benchmark's peer: QuickFIX's own C++ initiator sending the orders that
// tickline-fix-bench sends through FixGateway (an IOC buy of 1 at 1, which the
// venue cancels at once), one at a time, each timed from
// Session::sendToTarget to the first ExecutionReport for it in fromApp (on
// QuickFIX's socket thread; the sender spins on an atomic for it). Prints one
// JSON line of percentiles in ns.
#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/Message.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> logged_on{false};
std::atomic<long> acked{-1};

class Peer : public FIX::Application {
   public:
    void onCreate(const FIX::SessionID&) override {}
    void onLogon(const FIX::SessionID&) override { logged_on = true; }
    void onLogout(const FIX::SessionID&) override { logged_on = false; }
    void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
    void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}
    void fromAdmin(const FIX::Message&, const FIX::SessionID&) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon) override {}
    void fromApp(const FIX::Message& m, const FIX::SessionID&) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
        FIX::UnsupportedMessageType) override {
        if (m.getHeader().getField(35) != "8") return;
        const std::string id = m.getField(11);
        acked = std::stol(id.substr(id.rfind('-') + 1));
    }
};

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == "--" + name) return argv[i + 1];
    return def;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string port = arg(argc, argv, "port", "9878");
    const std::string dir = arg(argc, argv, "dir", "/tmp/quickfix-initiator");
    const long orders = std::stol(arg(argc, argv, "orders", "10000"));
    const std::string run = std::to_string(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count());
    std::ostringstream cfg;
    cfg << "[DEFAULT]\nConnectionType=initiator\nSocketConnectHost=127.0.0.1\nSocketConnectPort=" << port
        << "\nSocketNodelay=Y\nHeartBtInt=30\nReconnectInterval=1\nFileStorePath=" << dir
        << "\nStartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=N\n"
        << "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=QFINIT\nTargetCompID=VENUE\n";
    std::istringstream text(cfg.str());
    FIX::SessionSettings settings(text);
    Peer peer;
    FIX::FileStoreFactory store(settings);
    FIX::SocketInitiator initiator(peer, store, settings);
    initiator.start();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!logged_on) {
        if (std::chrono::steady_clock::now() > deadline) {
            std::cerr << "quickfix-initiator: no logon\n";
            return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const FIX::SessionID sid("FIX.4.4", "QFINIT", "VENUE");
    std::vector<long long> ns;
    ns.reserve(orders);
    const long warmup = orders / 10;
    for (long i = 0; i < warmup + orders; ++i) {
        FIX::Message m;
        m.getHeader().setField(35, "D");
        m.setField(11, "qf-" + run + "-" + std::to_string(i));
        m.setField(55, "1");
        m.setField(54, "1");
        m.setField(60, FIX::UtcTimeStampConvertor::convert(FIX::UtcTimeStamp(), 3));
        m.setField(38, "1");
        m.setField(40, "2");
        m.setField(44, "1");
        m.setField(59, "3");
        auto t0 = std::chrono::steady_clock::now();
        FIX::Session::sendToTarget(m, sid);
        while (acked.load() != i) std::this_thread::yield();
        auto t1 = std::chrono::steady_clock::now();
        if (i >= warmup) ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
    }
    initiator.stop();
    std::sort(ns.begin(), ns.end());
    auto q = [&](double p) { return ns[std::min(ns.size() - 1, size_t(p * ns.size()))]; };
    std::printf("{\"peer\":\"QuickFIX 1.15.1 initiator\",\"orders\":%zu,\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,"
                "\"p99.9\":%lld,\"max\":%lld}\n",
                ns.size(), q(0.5), q(0.9), q(0.99), q(0.999), ns.back());
    return 0;
}
