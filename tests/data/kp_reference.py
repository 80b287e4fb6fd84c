"""Independent reference values for testing the partition-coefficient methods.

Rodgers & Rowland rat tissue composition (Rodgers, Leahy & Rowland 2005 J Pharm Sci 94:1259 Table 1;
Rodgers & Rowland 2006 J Pharm Sci 95:1238), as tabulated in metrumresearchgroup/Voriconazole-PBPK
data/tissue_comp_R&R.csv; erythrocytes and plasma as in sueinchoi/KpCoeff R/Kpcoeff_RR.R.
Columns: f_nl, f_np, f_ew, f_iw, acidic phospholipid (mg/g), albumin ratio, lipoprotein ratio.

Published Rodgers & Rowland rat Kpu predictions (unbound, Kpu = Kp / fu) and Poulin & Theil 2002
human Vss (L/kg), as transcribed in metrumresearchgroup/PBPK_PC script/script.R (Utsey et al.
2020 Drug Metab Dispos 48:903).  Poulin & Theil human composition and tissue volumes (FV, L/kg):
metrumresearchgroup/Voriconazole-PBPK data/tissue_comp_PT.csv; skin from
data/PKSim_tissue_comp_PT_Berez.csv and PBPK_PC data/tissue_comp_R&R_for_P&T.csv.
"""

RAT_RR = {
    "adipose": (0.853, 0.0016, 0.135, 0.017, 0.40, 0.049, 0.068),
    "bone": (0.017, 0.0017, 0.100, 0.346, 0.67, 0.100, 0.050),
    "brain": (0.039, 0.0015, 0.162, 0.620, 0.40, 0.048, 0.041),
    "gut": (0.038, 0.0125, 0.282, 0.475, 2.41, 0.158, 0.141),
    "heart": (0.014, 0.0111, 0.320, 0.456, 2.25, 0.157, 0.160),
    "kidney": (0.012, 0.0242, 0.273, 0.483, 5.03, 0.130, 0.137),
    "liver": (0.014, 0.0240, 0.161, 0.573, 4.56, 0.086, 0.161),
    "lung": (0.022, 0.0128, 0.336, 0.446, 3.91, 0.212, 0.168),
    "muscle": (0.010, 0.0072, 0.118, 0.630, 1.53, 0.064, 0.059),
    "pancreas": (0.041, 0.0093, 0.120, 0.664, 1.67, 0.060, 0.060),
    "skin": (0.060, 0.0044, 0.382, 0.291, 1.32, 0.277, 0.096),
    "spleen": (0.0077, 0.0113, 0.207, 0.579, 3.18, 0.097, 0.207),
    "thymus": (0.017, 0.0092, 0.150, 0.626, 2.30, 0.075, 0.075),
}
RAT_ERYTHROCYTES = (0.0017, 0.0029, 0.0, 0.603, 0.50, 0.0, 0.0)
RAT_PLASMA = (0.0023, 0.0013, 1.0, 0.0, 0.0, 1.0, 1.0)

# name: (logP, kind, pKa tuple, fu, B:P, {tissue: reported Kpu})
RR_REPORTED = {
    "bisoprolol": (1.87, "base", (9.4,), 0.85, 1.36, {
        "bone": 3.61, "brain": 3.36, "gut": 11.0, "heart": 10.4, "kidney": 21.4, "liver": 19.6,
        "lung": 17.2, "muscle": 7.73, "skin": 6.37, "thymus": 10.8, "adipose": 1.79}),
    "acebutolol": (1.87, "base", (9.7,), 0.79, 1.09, {
        "bone": 2.34, "brain": 2.57, "gut": 6.45, "heart": 6.1, "kidney": 11.8, "liver": 11.0,
        "lung": 9.67, "muscle": 4.84, "skin": 3.85, "thymus": 6.45}),
    "enoxacin": (0.100, "zwitterion", (6.1, 8.7), 0.66, 0.94, {
        "bone": 1.74, "heart": 4.62, "kidney": 9.88, "liver": 9.04, "lung": 7.61, "muscle": 3.74,
        "skin": 3.16, "spleen": 6.33}),
    "cefazolin": (0.3, "acid", (2.3,), 0.16, 0.55, {
        "bone": 0.74, "gut": 1.28, "heart": 1.23, "kidney": 1.10, "liver": 0.79, "lung": 1.52,
        "muscle": 0.69, "skin": 1.92}),
}

# tissue: (FV L/kg, water, neutral lipid, phospholipid)
PT_HUMAN = {
    "adipose": (0.11957, 0.18, 0.79, 0.002), "bone": (0.08563, 0.439, 0.074, 0.0011),
    "brain": (0.02, 0.77, 0.051, 0.0565), "gut": (0.0171, 0.718, 0.0487, 0.0163),
    "heart": (0.0047, 0.758, 0.0115, 0.0166), "kidney": (0.0044, 0.783, 0.0207, 0.0162),
    "liver": (0.026, 0.751, 0.0348, 0.0252), "lung": (0.0076, 0.811, 0.003, 0.009),
    "muscle": (0.4, 0.76, 0.0238, 0.0072), "spleen": (0.0026, 0.788, 0.0201, 0.0198),
    "skin": (0.0371, 0.718, 0.0284, 0.0111),
}
PT_PLASMA = (0.0424, 0.945, 0.0035, 0.00225)
PT_ERYTHROCYTE_FV = 0.0347

# name: (logP, kind, pKa tuple, fu, B:P, reported Vss L/kg)
PT_VSS = {
    "acetaminophen": (0.46, "acid", (9.38,), 1.0, 1.0, 0.63),
    "ascorbic acid": (-1.85, "acid", (4.7,), 0.76, 0.82, 0.50),
    "isoniazid": (-0.7, "acid", (1.82,), 1.0, 1.0, 0.56),
    "thiopental": (2.85, "acid", (7.45,), 0.112, 1.0, 2.87),
    "acetazolamide": (-0.26, "acid", (7.4,), 0.044, 1.0, 0.32),
    "THC": (6.97, "acid", (10.6,), 0.115, 0.55, 5.53),
    "caffeine": (-0.07, "base", (10.4,), 0.681, 0.98, 0.53),
    "acebutolol": (1.71, "base", (9.67,), 0.743, 1.0, 1.25),
    "chlorpheniramine": (3.38, "base", (9.13,), 0.27, 1.34, 3.26),
    "carvedilol": (4.19, "base", (8.4,), 0.0054, 0.71, 2.68),
    "mepivacaine": (1.95, "base", (7.76,), 0.225, 0.9, 1.22),
    "trimethoprim": (0.91, "base", (7.12,), 0.304, 1.0, 0.52),
    "alfentanil": (2.16, "base", (6.5,), 0.074, 1.0, 1.38),
    "cimetidine": (0.4, "base", (6.8,), 0.8, 1.0, 0.56),
    "etomidate": (3.05, "base", (4.5,), 0.235, 1.0, 4.55),
    "coumarin": (1.39, "neutral", (), 0.853, 1.0, 1.08),
    "griseofulvin": (2.18, "neutral", (), 0.2, 1.0, 1.72),
    "cyclosporin": (2.92, "neutral", (), 0.0602, 1.36, 2.77),
}
