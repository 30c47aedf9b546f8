/**
 * Realistic, reproducible contact data for the query bench (bench/seed.ts, bench/query.ts):
 * names from lists, a few hundred companies, unique emails, phones, addresses, 0–3 labels out
 * of 20 (one of them on ~30% of contacts), three custom extended fields (NUMBER, DATE, TEXT) and
 * creation dates spread over ten years. A seeded PRNG makes every run produce the same shapes.
 */
import { randomUUID } from "node:crypto";
import type { ContactInfoJson } from "../gen/contacts/v1/contact_pb.js";
import { normaliseInfo } from "../server/src/domain/contact-info.js";
import type { StoredContact } from "../server/src/domain/contacts.js";

/** The tenant with the million contacts, and the small ones around it (half sort before it, half after). */
export const BIG_TENANT = "bench-big";
export function smallTenants(n: number): string[] {
  return Array.from({ length: n }, (_, i) => (i % 2 === 0 ? `bench-a${i + 1}` : `bench-z${i + 1}`));
}

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const FIRST_NAMES = (
  "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph Jessica " +
  "Thomas Sarah Christopher Karen Charles Lisa Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret Donald Ashley " +
  "Steven Kimberly Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah " +
  "Timothy Stephanie Ronald Dorothy Jason Rebecca Edward Sharon Jeffrey Laura Ryan Cynthia Jacob Amy Gary Kathleen " +
  "Nicholas Angela Eric Shirley Jonathan Brenda Stephen Emma Larry Anna Justin Pamela Scott Nicole Brandon Samantha " +
  "Benjamin Katherine Samuel Christine Gregory Helen Alexander Debra Patrick Rachel Frank Carolyn Raymond Janet Jack " +
  "Maria Dennis Catherine Jerry Heather Tyler Diane Aaron Olivia Jose Julie Adam Joyce Nathan Victoria Henry Ruth " +
  "Zachary Virginia Douglas Lauren Peter Kelly Kyle Christina Noah Joan Ethan Evelyn Jeremy Judith Walter Andrea " +
  "Christian Hannah Keith Megan Roger Cheryl Terry Jacqueline Austin Martha Sean Madison Gerald Teresa Carl Gloria " +
  "Harold Sara Dylan Janice Arthur Ann Lawrence Kathryn Jordan Abigail Jesse Sophia Bryan Frances Billy Jean Bruce " +
  "Alice Gabriel Judy Joe Isabella Logan Julia Alan Grace Juan Amber Albert Denise Willie Danielle Elijah Marilyn " +
  "Wayne Beverly Randy Charlotte Vincent Natalie Mason Theresa Roy Diana Ralph Brittany Bobby Doris Russell Kayla " +
  "Bradley Alexis Philip Lori Eugene Marie Yuki Hiroshi Mei Wei Priya Arjun Fatima Omar Sven Ingrid Mateo Lucia Noor " +
  "Chloé Zoë Björn Łukasz Søren José Renée"
).split(" ");

export const LAST_NAMES = (
  "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson " +
  "Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker " +
  "Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell " +
  "Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy " +
  "Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson " +
  "Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross " +
  "Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher " +
  "Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole " +
  "Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison " +
  "Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford " +
  "Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner " +
  "Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols " +
  "Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins Arnold Pierce Hansen Peters Santos " +
  "Hart Bradley Knight Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado " +
  "Berry Perkins Hoffman Johnston Matthews Pena Richards Willis Carpenter Lawrence Sandoval Guerrero George " +
  "Chapman Rios Estrada Ortega Watkins Greene Nunez Wheeler Valdez Harper Burke Larson Santiago Maldonado Morrison " +
  "Franklin Carlson Austin Dominguez Carr Lawson Jacobs O'Brien Lynch Singh Vega Bishop Montgomery Oliver Jensen " +
  "Harvey Williamson Gilbert Dean Sims Espinoza Howell Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang " +
  "Weber Welch Rojas Lucas Marquez Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz Luna Fowler " +
  "Müller Schröder Østergaard Nakamura Tanaka Kowalski Novák Dubois Lefèvre Rossi Bianchi Ivanova Okafor Mensah"
).split(" ");

const COMPANY_A = (
  "North South East West Blue Red Green Silver Golden Iron Bright Clear Swift Prime Apex Summit Harbor River Lake " +
  "Cedar Oak Pine Maple Stone Cloud Star Sun Moon Atlas Nova"
).split(" ");
const COMPANY_B = "Labs Systems Works Partners Group Foods Logistics Health Studio Media Capital Energy".split(" ");
/** 31 × 12 = 372 distinct companies. */
export const COMPANIES = COMPANY_A.flatMap((a) => COMPANY_B.map((b) => `${a}${b === "Labs" ? "" : " "}${b}`));

const JOB_TITLES = (
  "Engineer,Senior Engineer,Manager,Director,VP Sales,Account Executive,Designer,Product Manager,Analyst,Consultant," +
  "Accountant,Nurse,Teacher,Developer,Architect,Recruiter,Marketing Lead,CEO,CTO,CFO,Founder,Owner,Intern," +
  "Support Specialist,Operations Manager,Sales Representative,Data Scientist,Researcher,Lawyer,Pharmacist"
).split(",");

const CITIES: readonly [string, string, string][] = [
  ["New York", "US-NY", "US"],
  ["Los Angeles", "US-CA", "US"],
  ["Chicago", "US-IL", "US"],
  ["Houston", "US-TX", "US"],
  ["Phoenix", "US-AZ", "US"],
  ["Philadelphia", "US-PA", "US"],
  ["San Antonio", "US-TX", "US"],
  ["San Diego", "US-CA", "US"],
  ["Dallas", "US-TX", "US"],
  ["Austin", "US-TX", "US"],
  ["Seattle", "US-WA", "US"],
  ["Denver", "US-CO", "US"],
  ["Boston", "US-MA", "US"],
  ["Miami", "US-FL", "US"],
  ["Atlanta", "US-GA", "US"],
  ["Portland", "US-OR", "US"],
  ["London", "GB-LND", "GB"],
  ["Manchester", "GB-MAN", "GB"],
  ["Berlin", "DE-BE", "DE"],
  ["Munich", "DE-BY", "DE"],
  ["Paris", "FR-IDF", "FR"],
  ["Lyon", "FR-ARA", "FR"],
  ["Madrid", "ES-MD", "ES"],
  ["Barcelona", "ES-CT", "ES"],
  ["Rome", "IT-RM", "IT"],
  ["Milan", "IT-MI", "IT"],
  ["Amsterdam", "NL-NH", "NL"],
  ["Tel Aviv", "IL-TA", "IL"],
  ["Toronto", "CA-ON", "CA"],
  ["Vancouver", "CA-BC", "CA"],
  ["Sydney", "AU-NSW", "AU"],
  ["Melbourne", "AU-VIC", "AU"],
  ["Tokyo", "JP-13", "JP"],
  ["São Paulo", "BR-SP", "BR"],
  ["Mexico City", "MX-CMX", "MX"],
  ["Dublin", "IE-D", "IE"],
];
const STREETS = "Main,Oak,Pine,Maple,Cedar,Elm,Washington,Lake,Hill,Park,Church,High,Station,Mill,River,Market".split(",");
const STREET_KINDS = ["St", "Ave", "Rd", "Blvd", "Ln", "Way"];
const DOMAINS = "gmail.com,yahoo.com,outlook.com,hotmail.com,icloud.com,proton.me,aol.com,mail.com,gmx.de,web.de".split(",");
const US_AREA = [201, 202, 206, 212, 213, 214, 305, 310, 312, 404, 415, 512, 602, 617, 646, 702, 713, 718, 773, 818];
const NOTES = (
  "met at conference,prefers email,call after 5pm,vip customer,follow up in Q3,referred by partner,needs quote," +
  "interested in premium,churn risk,renewal pending,trade show lead,webinar attendee,asked for demo,do not call"
).split(",");
const LOCALES = ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "it-IT", "ja-JP", "pt-BR", "he-IL"];

/** The labels (display names) the seed creates, with the share of contacts carrying each. */
export const LABELS: readonly { name: string; share: number }[] = [
  { name: "Newsletter", share: 0.3 },
  { name: "Customers 2024", share: 0.14 },
  { name: "Leads", share: 0.11 },
  { name: "Partners", share: 0.09 },
  { name: "Webinar", share: 0.07 },
  { name: "Trade Show", share: 0.055 },
  { name: "Churned", share: 0.045 },
  { name: "Beta Testers", share: 0.035 },
  { name: "Investors", share: 0.028 },
  { name: "Press", share: 0.022 },
  { name: "Vendors", share: 0.017 },
  { name: "Alumni", share: 0.013 },
  { name: "Board", share: 0.01 },
  { name: "Speakers", share: 0.008 },
  { name: "Volunteers", share: 0.006 },
  { name: "Donors", share: 0.005 },
  { name: "Mentors", share: 0.004 },
  { name: "Advisors", share: 0.003 },
  { name: "Ambassadors", share: 0.002 },
  { name: "Legacy Import", share: 0.001 },
];

/** The custom extended fields the seed creates. */
export const FIELDS = {
  number: { name: "Lifetime Value", dataType: "NUMBER", share: 0.7, max: 100_000 },
  date: { name: "Renewal Date", dataType: "DATE", share: 0.5 },
  text: { name: "Notes", dataType: "TEXT", share: 0.4 },
} as const;

/** Creation dates: uniform over these ten years. */
export const CREATED_FROM = Date.UTC(2016, 10, 28);
export const CREATED_TO = Date.UTC(2026, 10, 27);

export interface Keys {
  labels: readonly string[];
  number: string;
  date: string;
  text: string;
}

export interface Generated {
  info: ContactInfoJson;
  createdDate: number;
  updatedDate: number;
}

const pad = (n: number, w: number) => String(n).padStart(w, "0");

/**
 * Contact `n` (0-based, unique per tenant) of a tenant: its info as a client would send it
 * (normalised by the caller with the service's own normaliseInfo) and its dates.
 */
export function generateContact(rand: () => number, n: number, tenantTag: string, keys: Keys): Generated {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const first = pick(FIRST_NAMES);
  const last = pick(LAST_NAMES);
  const info: ContactInfoJson = {};
  const r = rand();
  // A few contacts have only an email or only a last name.
  info.name = r < 0.03 ? { last } : r < 0.05 ? {} : { first, last };
  const local = `${first}.${last}`
    .toLowerCase()
    .normalize("NFD")
    .replace(/[^a-z.]/g, "");
  const emails = [{ email: `${local || "contact"}.${n.toString(36)}.${tenantTag}@${pick(DOMAINS)}`, tag: "EMAIL_TAG_MAIN" as const }];
  if (rand() < 0.25) emails.push({ email: `${local || "c"}${n.toString(36)}@work-${tenantTag}.example`, tag: "EMAIL_TAG_MAIN" as const });
  if (rand() < 0.97) info.emails = { items: emails };
  if (rand() < 0.75) {
    const items: { phone: string; countryCode: string; tag: "PHONE_TAG_MOBILE" | "PHONE_TAG_WORK" }[] = [
      { phone: `(${pick(US_AREA)}) ${200 + Math.floor(rand() * 800)}-${pad(Math.floor(rand() * 10000), 4)}`, countryCode: "US", tag: "PHONE_TAG_MOBILE" },
    ];
    if (rand() < 0.15)
      items.push({ phone: `+44 20 7${pad(Math.floor(rand() * 1000), 3)} ${pad(Math.floor(rand() * 10000), 4)}`, countryCode: "GB", tag: "PHONE_TAG_WORK" });
    info.phones = { items };
  }
  if (rand() < 0.6) {
    const [city, subdivision, country] = pick(CITIES);
    info.addresses = {
      items: [
        {
          tag: "ADDRESS_TAG_HOME",
          address: {
            streetAddress: { number: String(1 + Math.floor(rand() * 2000)), name: `${pick(STREETS)} ${pick(STREET_KINDS)}` },
            city,
            subdivision,
            country,
            postalCode: pad(Math.floor(rand() * 100000), 5),
          },
        },
      ],
    };
  }
  if (rand() < 0.8) info.company = pick(COMPANIES);
  if (rand() < 0.6) info.jobTitle = pick(JOB_TITLES);
  if (rand() < 0.3) info.birthdate = `${1950 + Math.floor(rand() * 55)}-${pad(1 + Math.floor(rand() * 12), 2)}-${pad(1 + Math.floor(rand() * 28), 2)}`;
  if (rand() < 0.5) info.locale = pick(LOCALES);
  const labels: string[] = [];
  for (let i = 0; i < LABELS.length && labels.length < 3; i++) {
    if (rand() < (LABELS[i]?.share ?? 0)) labels.push(keys.labels[i] as string);
  }
  if (labels.length > 0) info.labelKeys = { items: labels };
  const ext: Record<string, string | number> = {};
  if (rand() < FIELDS.number.share) ext[keys.number] = Math.round(rand() * FIELDS.number.max * 100) / 100;
  if (rand() < FIELDS.date.share) {
    ext[keys.date] = new Date(Date.UTC(2015, 0, 1) + Math.floor(rand() * 16 * 365) * 86_400_000).toISOString().slice(0, 10);
  }
  if (rand() < FIELDS.text.share) ext[keys.text] = `${pick(NOTES)} #${Math.floor(rand() * 1000)}`;
  if (Object.keys(ext).length > 0) info.extendedFields = { items: ext };
  if (rand() < 0.1) info.locations = { items: [`loc-${1 + Math.floor(rand() * 40)}`] };

  const createdDate = CREATED_FROM + Math.floor(rand() * (CREATED_TO - CREATED_FROM));
  const updatedDate = rand() < 0.4 ? createdDate + Math.floor(rand() * (CREATED_TO - createdDate)) : createdDate;
  return { info, createdDate, updatedDate };
}

/** A generated contact as CreateContact would store it (info normalised by the service's own rules). */
export function storedContact(g: Generated): StoredContact {
  return {
    id: randomUUID(),
    revision: 1,
    createdDate: g.createdDate,
    updatedDate: g.updatedDate,
    source: { sourceType: "CONTACT_SOURCE_TYPE_IMPORT" },
    lastActivity: { activityDate: g.updatedDate, activityType: "CONTACT_ACTIVITY_TYPE_CONTACT_CREATED" },
    info: normaliseInfo(g.info),
  };
}
