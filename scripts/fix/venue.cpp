// tickline-fix-venue: a small matching venue behind a QuickFIX (C++) acceptor,
// for tests, demos and the FIX benchmark. NewOrderSingle (D): a buy at or
// above the symbol's price, or a sell at or below it, fills in full at that
// price; any other order rests (Day/GTC) or is cancelled (IOC). --price is
// one price for every symbol, or SYMBOL=PRICE,... with an optional default. OrderCancelRequest (F)
// cancels a resting order or answers OrderCancelReject (9). OrderStatusRequest
// (H) answers an ExecutionReport with ExecType I, OrdStatus 8 and
// OrdRejReason 5 for an order it never had. A ClOrdID seen before is
// rejected (OrdRejReason 6) and counted as a duplicate, unless the message
// is a resend (PossDupFlag Y) of that order: then its status is answered.
//
// Every accepted order, fill and cancel is appended to --orders-log and
// replayed from it at start, so the venue remembers across restarts (its
// sequence numbers live in QuickFIX's FileStore under --dir). On SIGTERM it
// prints one JSON line: orders, fills, duplicates, and the signed position
// per symbol.
#include <quickfix/Application.h>
#include <quickfix/FileStore.h>
#include <quickfix/Message.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketAcceptor.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

// A decimal string to fixed point 1e-8 (the values FIX carries here).
long long fixed(const std::string& s) {
    long long sign = 1, whole = 0, frac = 0, scale = 100000000;
    size_t i = 0;
    if (i < s.size() && s[i] == '-') { sign = -1; ++i; }
    for (; i < s.size() && s[i] != '.'; ++i) whole = whole * 10 + (s[i] - '0');
    if (i < s.size()) {
        for (++i; i < s.size() && scale > 1; ++i) { scale /= 10; frac += (s[i] - '0') * scale; }
    }
    return sign * (whole * 100000000 + frac);
}

std::string decimal(long long v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%lld.%08lld", v < 0 ? "-" : "", std::llabs(v) / 100000000,
                  std::llabs(v) % 100000000);
    std::string s(buf);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
}

struct Order {
    std::string symbol, side, qty, price, tif;
    char status = '0';  // 0 new (resting), 2 filled, 4 cancelled
    long long cum = 0;  // fixed point
    std::string avg = "0";
};

class Venue : public FIX::Application {
   public:
    Venue(const std::string& prices, std::string log_path, long skip_after)
        : log_path_(std::move(log_path)), skip_after_(skip_after) {
        std::istringstream list(prices);
        for (std::string item; std::getline(list, item, ',');) {
            auto eq = item.find('=');
            if (eq == std::string::npos) default_price_ = item;
            else prices_[item.substr(0, eq)] = item.substr(eq + 1);
        }
        replay();
        log_.open(log_path_, std::ios::app);
    }

    void onCreate(const FIX::SessionID&) override {}
    void onLogon(const FIX::SessionID&) override {}
    void onLogout(const FIX::SessionID&) override {}
    void toAdmin(FIX::Message&, const FIX::SessionID&) override {}
    void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}
    void fromAdmin(const FIX::Message&, const FIX::SessionID&) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue, FIX::RejectLogon) override {}

    void fromApp(const FIX::Message& m, const FIX::SessionID& sid) throw(
        FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
        FIX::UnsupportedMessageType) override {
        const std::string type = m.getHeader().getField(35);
        if (type == "D") new_order(m, sid);
        else if (type == "F") cancel(m, sid);
        else if (type == "H") status(m, sid);
        else throw FIX::UnsupportedMessageType();
    }

    std::string summary() const {
        std::map<std::string, long long> pos;
        long long fills = 0;
        for (const auto& kv : orders_) {
            const Order& o = kv.second;
            if (o.cum == 0) continue;
            ++fills;
            pos[o.symbol] += o.side == "1" ? o.cum : -o.cum;
        }
        std::ostringstream s;
        s << "{\"orders\":" << orders_.size() << ",\"fills\":" << fills << ",\"duplicates\":" << duplicates_
          << ",\"status_requests\":" << status_requests_ << ",\"poss_dup_resends\":" << poss_dups_
          << ",\"positions\":{";
        bool first = true;
        for (const auto& kv : pos) {
            s << (first ? "" : ",") << "\"" << kv.first << "\":\"" << decimal(kv.second) << "\"";
            first = false;
        }
        s << "}}";
        return s.str();
    }

   private:
    void replay() {
        std::ifstream in(log_path_);
        std::string kind, id;
        while (in >> kind >> id) {
            if (kind == "ORDER") {
                Order o;
                in >> o.symbol >> o.side >> o.qty >> o.price >> o.tif;
                orders_[id] = o;
            } else if (kind == "FILL") {
                std::string qty, px;
                in >> qty >> px;
                orders_[id].cum += fixed(qty);
                orders_[id].avg = px;
                orders_[id].status = '2';
            } else if (kind == "CANCEL") {
                orders_[id].status = '4';
            } else if (kind == "DUP") {
                ++duplicates_;
            }
        }
    }

    void record(const std::string& line) {
        log_ << line << '\n';
        log_.flush();
    }

    FIX::Message report(const std::string& id, const Order& o, const std::string& exec_type) {
        FIX::Message r;
        r.getHeader().setField(35, "8");
        r.setField(37, id);  // OrderID
        r.setField(17, std::to_string(++exec_id_));
        r.setField(11, id);
        r.setField(150, exec_type);
        r.setField(39, std::string(1, o.status));
        r.setField(55, o.symbol);
        r.setField(54, o.side);
        r.setField(38, o.qty);
        r.setField(44, o.price);
        r.setField(59, o.tif);
        r.setField(14, decimal(o.cum));
        r.setField(151, o.status == '0' ? decimal(fixed(o.qty) - o.cum) : "0");
        r.setField(6, o.avg);
        return r;
    }

    void send(FIX::Message& r, const FIX::SessionID& sid) {
        FIX::Session::sendToTarget(r, sid);
        if (skip_after_ > 0 && ++reports_ == skip_after_) {
            // Skip a sequence number on purpose: the initiator must ask
            // for it and get a gap fill.
            if (FIX::Session* s = FIX::Session::lookupSession(sid))
                s->setNextSenderMsgSeqNum(s->getExpectedSenderNum() + 1);
        }
    }

    void new_order(const FIX::Message& m, const FIX::SessionID& sid) {
        const std::string id = m.getField(11);
        const bool poss_dup = m.getHeader().isSetField(43) && m.getHeader().getField(43) == "Y";
        if (orders_.count(id) && poss_dup) {
            // The same message again, e.g. asked for after a restart that
            // came between logging the order and storing its sequence number.
            ++poss_dups_;
            FIX::Message r = report(id, orders_[id], "I");
            send(r, sid);
            return;
        }
        if (orders_.count(id)) {
            ++duplicates_;
            record("DUP " + id);
            Order o = orders_[id];
            FIX::Message r = report(id, o, "8");
            r.setField(39, "8");
            r.setField(103, "6");
            r.setField(58, "duplicate ClOrdID");
            send(r, sid);
            return;
        }
        Order o;
        o.symbol = m.getField(55);
        o.side = m.getField(54);
        o.qty = m.getField(38);
        o.price = m.getField(44);
        o.tif = m.isSetField(59) ? m.getField(59) : "0";
        record("ORDER " + id + " " + o.symbol + " " + o.side + " " + o.qty + " " + o.price + " " + o.tif);
        auto found = prices_.find(o.symbol);
        const std::string& price_ = found == prices_.end() ? default_price_ : found->second;
        const long long px = fixed(o.price), at = fixed(price_);
        const bool marketable = (o.side == "1" && px >= at) || (o.side == "2" && px <= at);
        std::string exec_type = "0";
        if (marketable) {
            o.status = '2';
            o.cum = fixed(o.qty);
            o.avg = price_;
            exec_type = "F";
            record("FILL " + id + " " + o.qty + " " + price_);
        } else if (o.tif == "3") {
            o.status = '4';
            exec_type = "4";
            record("CANCEL " + id);
        }
        orders_[id] = o;
        FIX::Message r = report(id, o, exec_type);
        if (marketable) {
            r.setField(31, price_);
            r.setField(32, o.qty);
        }
        send(r, sid);
    }

    void cancel(const FIX::Message& m, const FIX::SessionID& sid) {
        const std::string orig = m.getField(41), id = m.getField(11);
        auto it = orders_.find(orig);
        if (it == orders_.end() || it->second.status != '0') {
            FIX::Message r;
            r.getHeader().setField(35, "9");
            r.setField(37, "NONE");
            r.setField(11, id);
            r.setField(41, orig);
            r.setField(39, it == orders_.end() ? "8" : std::string(1, it->second.status));
            r.setField(434, "1");
            r.setField(102, "1");
            r.setField(58, it == orders_.end() ? "unknown order" : "order not resting");
            send(r, sid);
            return;
        }
        it->second.status = '4';
        record("CANCEL " + orig);
        FIX::Message r = report(orig, it->second, "4");
        r.setField(11, id);
        r.setField(41, orig);
        send(r, sid);
    }

    void status(const FIX::Message& m, const FIX::SessionID& sid) {
        ++status_requests_;
        const std::string id = m.getField(11);
        auto it = orders_.find(id);
        if (it == orders_.end()) {
            Order o;
            o.symbol = m.getField(55);
            o.side = m.getField(54);
            o.qty = "0";
            o.price = "0";
            o.tif = "0";
            o.status = '8';
            FIX::Message r = report(id, o, "I");
            r.setField(103, "5");
            r.setField(58, "unknown order");
            send(r, sid);
            return;
        }
        FIX::Message r = report(id, it->second, "I");
        send(r, sid);
    }

    std::map<std::string, std::string> prices_;
    std::string default_price_ = "100";
    std::string log_path_;
    long skip_after_;
    long reports_ = 0;
    long exec_id_ = 0;
    long duplicates_ = 0;
    long poss_dups_ = 0;
    long status_requests_ = 0;
    std::map<std::string, Order> orders_;
    std::ofstream log_;
};

std::string arg(int argc, char** argv, const std::string& name, const std::string& def) {
    for (int i = 1; i + 1 < argc; ++i)
        if (argv[i] == "--" + name) return argv[i + 1];
    if (def == "required") {
        std::cerr << "tickline-fix-venue: --" << name << " is required\n";
        std::exit(2);
    }
    return def;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string port = arg(argc, argv, "port", "required");
    const std::string dir = arg(argc, argv, "dir", "required");
    const std::string sender = arg(argc, argv, "sender", "VENUE");
    const std::string targets = arg(argc, argv, "targets", "TICKLINE");
    const std::string price = arg(argc, argv, "price", "100");
    const long skip_after = std::atol(arg(argc, argv, "skip-seq-after", "0").c_str());

    std::ostringstream cfg;
    cfg << "[DEFAULT]\nConnectionType=acceptor\nSocketAcceptPort=" << port
        << "\nSocketReuseAddress=Y\nSocketNodelay=Y\nFileStorePath=" << dir << "/store"
        << "\nStartTime=00:00:00\nEndTime=00:00:00\nUseDataDictionary=N\nResetOnLogon=N\n"
        << "ResetOnLogout=N\nResetOnDisconnect=N\nPersistMessages=Y\n";
    std::istringstream list(targets);
    for (std::string t; std::getline(list, t, ',');)
        cfg << "[SESSION]\nBeginString=FIX.4.4\nSenderCompID=" << sender << "\nTargetCompID=" << t << "\n";

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    // The orders log lives in --dir, which QuickFIX's store would create later.
    if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0) {
        std::cerr << "tickline-fix-venue: cannot create " << dir << std::endl;
        return 1;
    }
    try {
        std::istringstream text(cfg.str());
        FIX::SessionSettings settings(text);
        Venue venue(price, dir + "/orders.log", skip_after);
        FIX::FileStoreFactory store(settings);
        FIX::SocketAcceptor acceptor(venue, store, settings);
        acceptor.start();
        std::cerr << "tickline-fix-venue: listening on " << port << " as " << sender << std::endl;
        int sig = 0;
        sigwait(&set, &sig);
        acceptor.stop();
        std::cout << venue.summary() << std::endl;
    } catch (const std::exception& e) {
        std::cerr << "tickline-fix-venue: " << e.what() << std::endl;
        return 1;
    }
    return 0;
}
