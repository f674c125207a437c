//! Benchmarks of the permission check and the review content checks.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use okcc_core::ids::{Owner, TenantId, UserId};
use okcc_core::rbac::{BuiltinRole, Permission, Principal, TenantCeiling, authorize};
use okcc_core::review::voice::{build_mp3, build_wav, sniff};
use okcc_core::review::{Template, Variables, VoiceLimits, sms};

fn bench(c: &mut Criterion) {
    let acme = Owner::Tenant(TenantId::new("acme").unwrap());
    let globex = Owner::Tenant(TenantId::new("globex").unwrap());
    let ceiling = TenantCeiling::default();
    let role = BuiltinRole::Supervisor.role(acme.clone(), ceiling).unwrap();
    let who = Principal::new(UserId::new("sue").unwrap(), acme.clone(), [&role], ceiling);
    c.bench_function("authorize_allow", |b| {
        b.iter(|| {
            authorize(
                black_box(&who),
                black_box(Permission::CrmRead),
                black_box(&acme),
            )
        });
    });
    c.bench_function("authorize_cross_tenant_deny", |b| {
        b.iter(|| {
            authorize(
                black_box(&who),
                black_box(Permission::CrmRead),
                black_box(&globex),
            )
        });
    });

    let gsm = "Dear customer, your appointment is confirmed for tomorrow at 10:00. Reply STOP to opt out. Price 5€ [VAT incl.] ".repeat(3);
    let ucs2 = "您好，您的预约已确认，明天上午十点见。回复退订。".repeat(5);
    c.bench_function("sms_analyze_gsm_330", |b| {
        b.iter(|| sms::analyze(black_box(&gsm)));
    });
    c.bench_function("sms_analyze_ucs2_120", |b| {
        b.iter(|| sms::analyze(black_box(&ucs2)));
    });

    let vars = Variables::default();
    let text = "Dear {name}, this is {company}. You owe {amount}, due {date} at {time}. Agent {agent}. {{ref}}".repeat(4);
    c.bench_function("tts_template_parse_preview", |b| {
        b.iter(|| {
            let t = Template::parse(black_box(&text), &vars).unwrap();
            t.preview(&vars).unwrap()
        });
    });

    let limits = VoiceLimits::default();
    let wav = build_wav(1, 1, 8000, 16, 16000 * 60);
    let mp3 = build_mp3(2300); // about one minute
    c.bench_function("voice_sniff_wav_60s", |b| {
        b.iter(|| sniff(black_box(&wav), &limits));
    });
    c.bench_function("voice_sniff_mp3_60s", |b| {
        b.iter(|| sniff(black_box(&mp3), &limits));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
